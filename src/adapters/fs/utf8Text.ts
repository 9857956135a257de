/**
 * A blueprint or prompt file's text, refusing bytes that are not UTF-8. `readFileSync(…, 'utf8')`
 * turns each bad byte into U+FFFD silently, so a file saved as Latin-1 loaded, and its step names
 * and prompts were recorded with replacement characters nobody wrote.
 */
import { YamlLoadError } from '../../blueprint/yamlLoadError.js';

const strict = () => new TextDecoder('utf-8', { fatal: true });

/** The text of `bytes` (a leading BOM dropped); YamlLoadError at the first byte that is not UTF-8. */
export function utf8Text(bytes: Uint8Array): string {
  try {
    return strict().decode(bytes);
  } catch {
    const bad = firstBadByte(bytes);
    throw new YamlLoadError(`the file is ${notUtf8(bad)}; save it as UTF-8`, bad.line, bad.column);
  }
}

/**
 * The text of `bytes` read from `where` (a file, or `stdin`), or the error `refuse` makes of a
 * sentence naming the first byte that is not UTF-8 as `where:line:column` and saying what to do.
 * For flujo.toml, env files, --context @file and piped input, which were decoded leniently too.
 */
export function utf8TextOf(
  bytes: Uint8Array,
  where: string,
  refuse: (message: string) => Error,
  fix = 'save it as UTF-8',
): string {
  try {
    return strict().decode(bytes);
  } catch {
    const bad = firstBadByte(bytes);
    throw refuse(`${where}:${bad.line}:${bad.column}: ${notUtf8(bad)}; ${fix}`);
  }
}

interface BadByte {
  readonly line: number;
  readonly column: number;
  /** The byte, when one is to blame (not when the text ends inside a character). */
  readonly byte?: number;
}

const notUtf8 = (bad: BadByte): string =>
  bad.byte === undefined
    ? 'not UTF-8 text'
    : `not UTF-8 text (byte 0x${bad.byte.toString(16).toUpperCase().padStart(2, '0')} here)`;

function firstBadByte(bytes: Uint8Array): BadByte {
  // A newline byte is never inside a multi-byte sequence: find the line, then the place in it.
  let start = 0;
  for (let line = 1; ; line += 1) {
    const nl = bytes.indexOf(0x0a, start);
    const text = bytes.subarray(start, nl === -1 ? bytes.length : nl);
    const before = validPrefix(text);
    if (before !== undefined) {
      // Columns count characters, as the YAML parser's do.
      return { line, column: before.length + 1, byte: text[Buffer.byteLength(before, 'utf8')] };
    }
    if (nl === -1) return { line: 1, column: 1 };
    start = nl + 1;
  }
}

/**
 * The characters of `line` before its first byte that cannot be UTF-8, or undefined when the
 * line is whole. A prefix decodes in stream mode while it holds no bad byte (an unfinished last
 * sequence is held back, not refused), so the shortest prefix that fails is found by halving.
 */
function validPrefix(line: Uint8Array): string | undefined {
  const upTo = (k: number): string | undefined => {
    try {
      return strict().decode(line.subarray(0, k), { stream: true });
    } catch {
      return undefined;
    }
  };
  try {
    strict().decode(line);
    return undefined;
  } catch {
    // bad below
  }
  const whole = upTo(line.length);
  if (whole !== undefined) return whole; // the line ends inside a character
  let lo = 0; // upTo(lo) decodes
  let hi = line.length; // upTo(hi) fails
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1;
    if (upTo(mid) === undefined) hi = mid;
    else lo = mid;
  }
  return upTo(lo) as string;
}
