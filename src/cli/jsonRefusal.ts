/**
 * Under `--json` a command prints one JSON object on stdout (CONTRACTS), also when it refuses:
 * a bad flag the parser finds before the command runs, an unknown command, a bad `--context`, a
 * missing pipeline file, an invalid blueprint, an unknown run. Commands that print their own
 * refusal (resume, cancel, lens verify, a fleet outcome) or that have printed anything else have
 * written through the CLI's output already: nothing more is printed for them. The object is
 * `{ "run_id"?, "error": { "code", "message", "errors"? } }`: `run_id` when a RUN (or
 * `--run-id`) was given, as given; `errors` the blueprint findings of a `BLUEPRINT_INVALID`, as
 * `flujo validate --json` lists them (ADR 99, ADR 101). A command that takes no `--json` (worker,
 * lens serve) prints the parser's refusal so when `--json` is on its command line.
 */
import { isAbsolute, relative } from 'node:path';

import { CommanderError, type Command } from 'commander';

import { isEngineError, withoutCode } from '../errors.js';
import type { Output } from './output.js';

export interface JsonRefusals {
  /**
   * The output every command writes through: what it writes to stdout is what counts as printed.
   * A write by anyone else (a pipeline module's console.log at import) does not (ADR 101).
   */
  readonly out: Output;
  /** Call once every command is in the table: notes which command is acting or failed parsing. */
  watch(program: Command): void;
  /** Prints the refusal as one object when the acting command was asked for JSON and printed nothing. */
  print(e: unknown): void;
}

export function jsonRefusals(base: Output): JsonRefusals {
  let printed = false;
  let acting: Command | undefined;
  /** The parser refused the command line: the command's options may be only partly read. */
  let parsing = false;
  // Each of the CLI's own stdout writes counts (objects, watch's lines, text): one object, never
  // two. lens export's bytes go around it, but only without --json (export --json needs -o).
  const counted =
    <A extends unknown[]>(write: (...args: A) => void) =>
    (...args: A) => {
      printed = true;
      write(...args);
    };
  const out: Output = {
    ...base,
    data: counted(base.data),
    json: counted(base.json),
    jsonLine: counted(base.jsonLine),
    document: counted(base.document),
  };

  return {
    out,
    watch(program) {
      program.hook('preAction', (_program, action) => {
        acting = action;
      });
      // A parse error (an unknown flag, a missing value) ends in the failing command's exit
      // callback, before any hook: each command notes itself there.
      const each = (c: Command) => {
        c.exitOverride((err) => {
          if (!acting) [acting, parsing] = [c, true];
          throw err;
        });
        c.commands.forEach(each);
      };
      each(program);
    },
    print(e) {
      if (printed || !acting || !wantsJson(acting, parsing)) return;
      const error = errorObject(e);
      if (!error) return;
      const run = runGiven(acting);
      const value = { ...(run !== undefined ? { run_id: run } : {}), error };
      // lens watch --json prints one object per line: its refusal is one line too.
      if (acting.name() === 'watch') out.jsonLine(value);
      else out.json(value);
    },
  };
}

const takesJson = (c: Command) => c.options.some((o) => o.long === '--json');

function wantsJson(c: Command, parsing: boolean): boolean {
  if (takesJson(c)) {
    const o = c.opts<{ json?: unknown; format?: unknown }>();
    if (o.json === true || o.format === 'json') return true;
  }
  // Only the parser's refusal is printed for a command that takes no --json: a group (flujo,
  // lens, fleet), which never acts (`flujo lens shwo --json`, `flujo --json frobnicate`), or a
  // command that serves until stopped (`flujo worker --json`: `unknown option '--json'`).
  if (!parsing) return false;
  // A parse error before --json was reached (`run --budget-usd` with no value, then --json).
  const argv = process.argv.slice(2);
  const end = argv.indexOf('--');
  return (end < 0 ? argv : argv.slice(0, end)).includes('--json');
}

function runGiven(c: Command): string | undefined {
  if (c.registeredArguments[0]?.name() === 'run') {
    // Read only once the parser accepted the line (c.args holds an unknown flag before that).
    const given: unknown = c.processedArgs[0];
    return typeof given === 'string' ? given : undefined;
  }
  const { runId } = c.opts<{ runId?: unknown }>();
  return typeof runId === 'string' ? runId : undefined;
}

function errorObject(e: unknown): Record<string, unknown> | undefined {
  if (e instanceof CommanderError)
    return e.exitCode === 0
      ? undefined
      : { code: 'USAGE', message: e.message.replace(/^error: /, '').replace(/\s*\n\s*/g, ' ') };
  if (!isEngineError(e)) return undefined;
  const findings = e.details.errors;
  return {
    code: e.code,
    message: withoutCode(e.message),
    ...(Array.isArray(findings) ? { errors: findings.map((f) => findingAsShown(f)) } : {}),
  };
}

/**
 * A finding with its file relative to `from` (the current folder), as `flujo validate --json`
 * and the message's own lines name it (the loader keeps absolute paths).
 */
export function findingAsShown<F>(f: F, from: string = process.cwd()): F {
  const file = (f as { file?: unknown }).file;
  return typeof file === 'string' && isAbsolute(file)
    ? { ...f, file: relative(from, file) || file }
    : f;
}
