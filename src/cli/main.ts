#!/usr/bin/env node
/**
 * The `flujo` entry point: parses argv, lazy-loads one command module, maps errors to the stable
 * exit codes of CONTRACTS.md. The only file that calls process.exit.
 *
 * The table of commands and flags is split by group, each adding its commands in the order
 * `flujo --help` lists them: runTable.ts (init … cancel), fleetTable.ts, then show-config and
 * version here, lensTable.ts, blueprintTable.ts (validate, explain, visualize).
 */
import { createRequire } from 'node:module';

import { Command, CommanderError } from 'commander';

import { EngineError, ErrorCode, ExitCode, isEngineError } from '../errors.js';
import { addBlueprintCommands } from './blueprintTable.js';
import { addFleetCommands } from './fleetTable.js';
import { jsonRefusals } from './jsonRefusal.js';
import { addLensCommands } from './lensTable.js';
import { createOutput, ignoreClosedPipes } from './output.js';
import { addRunCommands } from './runTable.js';
import type { Interrupts } from './session.js';
import { flujoCommand, setCommandGlobals } from './shell.js';
import type { TableContext } from './tableContext.js';

const pkg = createRequire(import.meta.url)('../../package.json') as { version: string };
ignoreClosedPipes();
/** Under --json a refusal is one object on stdout too, unless the command printed it or more. */
const refusals = jsonRefusals(createOutput());
const { out } = refusals;

/** Ctrl-C: the first one lets the command stop cleanly (the run stays resumable); a second exits. */
const interrupts: Interrupts = {
  onInterrupt(handler) {
    let fired = false;
    const listener = () => {
      if (fired) process.exit(ExitCode.interrupted);
      fired = true;
      handler();
    };
    process.on('SIGINT', listener);
    return () => process.off('SIGINT', listener);
  },
};

/** Set by a command whose process should end as it returns. */
let exitNow = false;

/**
 * Ends the process once what was written to stdout and stderr has left it. A write to a pipe
 * can be asynchronous: process.exit right after a large JSON document (more than the pipe holds,
 * 64 KiB) dropped its end (ADR 101). An empty write's callback runs after every earlier write's.
 */
function exitAfterOutput(code: number): void {
  process.exitCode = code;
  const pending = [process.stdout, process.stderr].filter(
    (s) => s.writableLength > 0 && !s.destroyed,
  );
  let left = pending.length;
  if (left === 0) process.exit(code);
  for (const s of pending) s.write('', () => --left === 0 && process.exit(code));
}

/** A usage mistake ends with where to read the command's arguments and options (QA: it did not). */
function helpAfterErrors(cmd: Command, path: string): void {
  cmd.showHelpAfterError(`(see: ${path} --help)`);
  for (const sub of cmd.commands) helpAfterErrors(sub, `${path} ${sub.name()}`);
}

async function main(argv: string[]): Promise<number> {
  let exitCode: number = ExitCode.ok;
  const program = new Command('flujo')
    .description('Flujo: durable, auditable AI workflows')
    .version(pkg.version, '-V, --version')
    .option(
      '--project <path>',
      'project root (default: nearest folder with flujo.toml or pipeline.yaml)',
    )
    .option(
      '--state-uri <uri>',
      'ledger location: sqlite:///rel.db, sqlite:////abs.db, postgresql://…, memory://',
    )
    .option('-v, --verbose', 'show stack traces')
    .exitOverride()
    .configureOutput({
      writeErr: (s) => process.stderr.write(s),
      writeOut: (s) => process.stdout.write(s),
      // An unknown command or flag, a missing argument: `error: [USAGE] …` as every error is.
      outputError: (s, write) => write(s.replace(/^error: /, 'error: [USAGE] ')),
    })
    .showSuggestionAfterError(true);

  const global = () => program.opts<{ project?: string; stateUri?: string }>();
  // Every `flujo …` command printed for a person repeats the global options given (ADR 144).
  program.hook('preAction', () => {
    // An unset shell variable (`--project "$DIR"`): not the project found from here in silence.
    if (global().project === '')
      throw new EngineError(
        ErrorCode.USAGE,
        '--project is empty: give the project folder, or leave the flag out for the project found from the working folder; nothing was done',
        { exitCode: ExitCode.config },
      );
    setCommandGlobals(global(), process.cwd(), (note) => out.info(note));
  });

  const cx: TableContext = {
    out,
    interrupts,
    global,
    exit: (code) => {
      exitCode = code;
    },
    exitWhenDone: () => {
      exitNow = true;
    },
  };

  addRunCommands(program, cx);
  addFleetCommands(program, cx);

  program
    .command('show-config')
    .description('the effective settings and where each came from (secrets masked)')
    .option('--json', 'print a JSON object on stdout')
    .action(async (opts: { json?: boolean }) => {
      const { showConfig } = await import('./commands/showConfig.js');
      exitCode = showConfig({ ...global(), ...opts }, out);
    });

  program
    .command('version')
    .description('print the version')
    .option('--json', 'print a JSON object on stdout')
    .action((opts: { json?: boolean }) => {
      if (opts.json) out.json({ version: pkg.version, node: process.versions.node });
      else out.data(pkg.version);
    });

  addLensCommands(program, cx);
  addBlueprintCommands(program, cx);
  refusals.watch(program);
  helpAfterErrors(program, 'flujo');

  try {
    await program.parseAsync(argv);
  } catch (e) {
    if (e instanceof CommanderError) {
      // --help and --version end here with code 0; usage mistakes are configuration errors.
      refusals.print(e);
      return e.exitCode === 0 ? ExitCode.ok : ExitCode.config;
    }
    throw e;
  }
  return exitCode;
}

main(process.argv).then(
  (code) => {
    process.exitCode = code;
    if (exitNow) exitAfterOutput(code);
  },
  (e: unknown) => {
    const verbose = process.argv.includes('-v') || process.argv.includes('--verbose');
    if (isEngineError(e)) {
      refusals.print(e);
      out.error(`error: ${e.message}`);
      if (verbose && e.stack) out.error(e.stack);
      exitAfterOutput(e.exitCode);
      return;
    }
    // A damaged SQLite file met while reading (the open itself names it, exit 2): not a bug.
    const code = (e as { code?: unknown })?.code;
    if (typeof code === 'string' && /^SQLITE_(CORRUPT|NOTADB)/.test(code)) {
      const damaged = new EngineError(
        ErrorCode.LEDGER_STORE,
        `the SQLite ledger could not be read: ${(e as Error).message} (${code}). ` +
          `The file is damaged; nothing was changed. Find which runs are still whole with: ${flujoCommand('lens verify --all')}; ` +
          `export those with ${flujoCommand('lens export RUN -o FILE')}, and restore the file from a backup`,
        { exitCode: ExitCode.runtime },
      );
      refusals.print(damaged);
      out.error(`error: ${damaged.message}`);
      exitAfterOutput(ExitCode.runtime);
      return;
    }
    out.error(`internal error: ${(e as Error)?.message ?? String(e)}`);
    out.error(
      verbose
        ? String((e as Error)?.stack)
        : 'This is a bug in Flujo; rerun with --verbose and report the output.',
    );
    exitAfterOutput(ExitCode.runtime);
  },
);
