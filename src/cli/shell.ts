/**
 * Words the CLI prints for a person to paste into a POSIX shell (next-step hints): a run id or
 * an example answer goes through `shellWord` so that the pasted command means what it says.
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
