/**
 * Under `--json` a command prints one JSON object on stdout (CONTRACTS), also when it refuses:
 * a bad flag the parser finds before the command runs, a bad `--context`, a missing pipeline
 * file, an invalid blueprint, an unknown run. Commands that print their own refusal (resume,
 * cancel, lens verify, a fleet outcome) or that have printed anything else have written to stdout
 * already: nothing more is printed for them. The object is `{ "run_id"?, "error": { "code",
 * "message", "errors"? } }`: `run_id` when a RUN (or `--run-id`) was given, as given; `errors`
 * the blueprint findings of a `BLUEPRINT_INVALID`, as `flujo validate --json` lists them (ADR 99).
 */
import { CommanderError, type Command } from 'commander';

import { isEngineError, withoutCode } from '../errors.js';
import type { Output } from './output.js';

export interface JsonRefusals {
  /** Call once every command is in the table: notes which command is acting or failed parsing. */
  watch(program: Command): void;
  /** Prints the refusal as one object when the acting command was asked for JSON and printed nothing. */
  print(e: unknown): void;
}

export function jsonRefusals(
  out: Output,
  stdout: NodeJS.WriteStream = process.stdout,
): JsonRefusals {
  let printed = false;
  let acting: Command | undefined;
  /** The parser refused the command line: the command's options may be only partly read. */
  let parsing = false;
  // Any write counts (out.json, lens watch's lines, lens export's bytes): one object, never two.
  const write = stdout.write.bind(stdout) as (...args: unknown[]) => boolean;
  stdout.write = ((...args: unknown[]) => {
    printed = true;
    return write(...args);
  }) as typeof stdout.write;

  return {
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
      if (acting.name() === 'watch') stdout.write(`${JSON.stringify(value)}\n`);
      else out.json(value);
    },
  };
}

const takesJson = (c: Command) => c.options.some((o) => o.long === '--json');

function wantsJson(c: Command, parsing: boolean): boolean {
  if (!takesJson(c)) return false;
  const o = c.opts<{ json?: unknown; format?: unknown }>();
  if (o.json === true || o.format === 'json') return true;
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
      : { code: 'USAGE', message: e.message.replace(/^error: /, '') };
  if (!isEngineError(e)) return undefined;
  const findings = e.details.errors;
  return {
    code: e.code,
    message: withoutCode(e.message),
    ...(Array.isArray(findings) ? { errors: findings } : {}),
  };
}
