/**
 * Shell words for commands printed for a person to paste into a POSIX shell: by the CLI
 * (src/cli/shell.ts builds whole `flujo …` commands with them) and by a worker's refusals
 * (src/fleet), which cannot import the CLI.
 */

/** `s` as one shell word: bare when it holds only [A-Za-z0-9._:-], else single-quoted. */
export function shellWord(s: string): string {
  return /^[A-Za-z0-9._:-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}

/**
 * A run id as the last words of a command: after `--` when it starts with "-" (ids made through
 * the library may), so the CLI reads it as the run and not as an option. Options go before it.
 */
export function runIdWords(id: string): string {
  return id.startsWith('-') ? `-- ${shellWord(id)}` : shellWord(id);
}
