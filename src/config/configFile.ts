/**
 * Whether a configuration file (flujo.toml, the file FLUJO_CONFIG_PATH names, an env_file) is
 * there to read, said before it is read (QA L10): a symbolic link to nothing was taken for no
 * file at all (its settings and budgets silently not applied), a link in a loop was said not to
 * exist, and a FIFO made every command wait forever for a writer.
 */
import { lstatSync, readlinkSync, statSync, type Stats } from 'node:fs';

import { ConfigError, ErrorCode } from '../errors.js';

/** What kind of file `st` is, for a message (only the kinds a config file may not be). */
function kindOf(st: Stats): string {
  if (st.isFIFO()) return 'a named pipe (FIFO)';
  if (st.isSocket()) return 'a socket';
  if (st.isCharacterDevice()) return 'a character device';
  if (st.isBlockDevice()) return 'a block device';
  return 'not a regular file';
}

/**
 * `present` when `file` is a file to read (or a folder, which the read refuses naming EISDIR),
 * `absent` when nothing is there; else a ConfigError (exit 2) naming `file` as `named` says it
 * (`FLUJO_CONFIG_PATH names /x/y.toml, which`) and what to do.
 */
export function configFileState(file: string, named: string, todo: string): 'present' | 'absent' {
  const refuse = (what: string): never => {
    throw new ConfigError(ErrorCode.CONFIG_INVALID, `${named} ${what}; ${todo}`, { file });
  };
  let st: Stats;
  try {
    st = lstatSync(file);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return 'absent';
    return refuse(`cannot be read (${code ?? (e as Error).message})`);
  }
  if (st.isSymbolicLink()) {
    let target = '?';
    try {
      target = readlinkSync(file);
    } catch {
      // said as `?`: the link was there a moment ago
    }
    try {
      st = statSync(file);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'ELOOP')
        return refuse(
          `is a symbolic link to ${target} that leads back to itself (ELOOP: a loop of links)`,
        );
      return refuse(
        `is a symbolic link to ${target}, which ${code === 'ENOENT' ? 'does not exist' : `cannot be read (${code})`}`,
      );
    }
  }
  if (!st.isFile() && !st.isDirectory()) return refuse(`is ${kindOf(st)}, not a file`);
  return 'present';
}
