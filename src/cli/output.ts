/**
 * The only place the CLI writes to the terminal. Data goes to stdout, everything else to stderr.
 * Colour only on a TTY without NO_COLOR / TERM=dumb, or when FORCE_COLOR asks for it.
 */
import { jsonText } from '../jsonText.js';
import { forTerminal, paint } from './terminalText.js';

export interface Output {
  /** Text: control characters in it are printed as escapes, never obeyed (./terminalText.ts). */
  data(text: string): void;
  json(value: unknown): void;
  /** One JSON value on one line, as `JSON.stringify` writes it (lens watch --json). */
  jsonLine(value: unknown): void;
  /** A document (a report as JSON or HTML): its exact bytes to a pipe or file, escaped to a TTY. */
  document(text: string): void;
  info(text: string): void;
  error(text: string): void;
  readonly color: { ok(s: string): string; bad(s: string): string; dim(s: string): string };
  readonly interactive: boolean;
  /**
   * Whether a line may be redrawn in place (`\r`, erase line): interactive, and neither
   * `TERM=dumb` nor `NO_COLOR` (which asks for no escape sequences). Unset: `interactive`.
   */
  readonly live?: boolean;
  /** What `data`, `info` and `error` write for `text`, for a caller that writes it itself. */
  terminal(text: string): string;
}

function wantsColor(stream: NodeJS.WriteStream, env: NodeJS.ProcessEnv): boolean {
  if (env.NO_COLOR !== undefined && env.NO_COLOR !== '') return false;
  if (env.FORCE_COLOR !== undefined && env.FORCE_COLOR !== '0') return true;
  return Boolean(stream.isTTY) && env.TERM !== 'dumb';
}

export function createOutput(env: NodeJS.ProcessEnv = process.env): Output {
  const on = wantsColor(process.stderr, env) && wantsColor(process.stdout, env);
  const color = (code: 2 | 31 | 32) => (s: string) => (on ? paint(code, s) : s);
  const term = (text: string) => forTerminal(text, on);
  const interactive = Boolean(process.stderr.isTTY) && !env.CI;
  return {
    data: (text) => process.stdout.write(term(text.endsWith('\n') ? text : text + '\n')),
    json: (value) => process.stdout.write(`${jsonText(value, 2)}\n`),
    jsonLine: (value) => process.stdout.write(`${JSON.stringify(value)}\n`),
    // A file's bytes, as `-o FILE` writes them; shown escaped only to a terminal.
    document: (text) => process.stdout.write(process.stdout.isTTY ? term(text) : text),
    info: (text) => process.stderr.write(term(text) + '\n'),
    error: (text) => process.stderr.write(term(text) + '\n'),
    color: { ok: color(32), bad: color(31), dim: color(2) },
    interactive,
    live: interactive && env.TERM !== 'dumb' && (env.NO_COLOR === undefined || env.NO_COLOR === ''),
    terminal: term,
  };
}

/**
 * A reader that goes away (`flujo lens show RUN --json | head -1`) is not an error of ours: as
 * with SIGPIPE in other tools, the rest of the output is dropped without a stack trace and the
 * command ends with its own exit code. Writes after that fail quietly and `writable` turns false,
 * which is how a command that keeps printing (lens watch) knows to stop. Any other stream error
 * is still thrown.
 */
export function ignoreClosedPipes(
  streams: readonly NodeJS.WriteStream[] = [process.stdout, process.stderr],
): void {
  for (const stream of streams)
    stream.on('error', (e: NodeJS.ErrnoException) => {
      if (e.code !== 'EPIPE') throw e;
    });
}
