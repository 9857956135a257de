#!/usr/bin/env node
/**
 * The `flujo` entry point: parses argv, lazy-loads one command module, maps errors to the stable
 * exit codes of CONTRACTS.md. The only file that calls process.exit.
 */
import { createRequire } from 'node:module';

import { Command, CommanderError } from 'commander';

import { ExitCode, isEngineError } from '../errors.js';
import { createOutput } from './output.js';
import type { Interrupts } from './session.js';

const pkg = createRequire(import.meta.url)('../../package.json') as { version: string };
const out = createOutput();

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
    })
    .showSuggestionAfterError(true);

  const global = () => program.opts<{ project?: string; stateUri?: string }>();

  program
    .command('init')
    .description('scaffold a project: flujo.toml, pipeline.yaml, skills, .env.example, .gitignore')
    .option('-f, --force', 'overwrite existing files')
    .option('-y, --yes', 'do not ask for confirmation')
    .action(async (opts: { force?: boolean; yes?: boolean }) => {
      const { init } = await import('./commands/init.js');
      exitCode = await init({ ...global(), ...opts }, out);
    });

  program
    .command('run')
    .description('run a pipeline (default: pipeline.yaml of the project)')
    .argument('[pipeline]', 'a .yaml blueprint or a .js/.ts module exporting a pipeline')
    .option(
      '-i, --input <value>',
      'the input (`-` reads stdin); else FLUJO_INPUT, piped stdin, or empty',
    )
    .option('--run-id <id>', 'choose the run id; an existing id resumes that run')
    .option('--context <json>', 'initial context: a JSON object or @file.json')
    .option('--budget-usd <n>', 'cost limit for this run, in US dollars')
    .option('--budget-tokens <n>', 'token limit for this run')
    .option('--dry-run', 'load and check the pipeline without running it')
    .option('--json', 'print one JSON object on stdout')
    .action(async (pipeline: string | undefined, opts: Record<string, unknown>) => {
      const { run } = await import('./commands/run.js');
      exitCode = await run(pipeline, { ...global(), ...opts }, out, interrupts);
    });

  program
    .command('resume')
    .description('answer a paused run, or continue an interrupted one')
    .argument('<run>', 'run id or unique prefix')
    .option('-i, --input <value>', 'the answer (JSON, or text); `-` reads stdin')
    .option('--pipeline <file>', 'the pipeline file (default: the one the run recorded)')
    .option('--by <name>', 'who answers (recorded; default $USER)')
    .option('--json', 'print one JSON object on stdout')
    .action(async (runArg: string, opts: Record<string, unknown>) => {
      const { resume } = await import('./commands/resume.js');
      exitCode = await resume(runArg, { ...global(), ...opts }, out, interrupts);
    });

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

  const lens = program.command('lens').description('inspect, verify and audit recorded runs');
  lens
    .command('verify')
    .description('check hash chains; names the first bad seq of each broken run')
    .argument('[run]', 'run id or unique prefix')
    .option('--all', 'verify every run')
    .option('--json', 'print a JSON object on stdout')
    .action(async (run: string | undefined, opts: { all?: boolean; json?: boolean }) => {
      const { lensVerify } = await import('./commands/lensVerify.js');
      exitCode = await lensVerify({ ...program.opts(), ...opts, ...(run ? { run } : {}) }, out);
    });

  program
    .command('validate')
    .description('check a YAML blueprint: exit 0 valid, 4 invalid, 3 unresolved import')
    .argument('[path]', 'blueprint file', 'pipeline.yaml')
    .option('--format <format>', 'text, json or sarif', 'text')
    .option('--no-strict', 'report errors but exit 0')
    .option('--imports', 'also validate imported blueprints (always on)')
    .action(async (path: string, opts: { format: string; strict: boolean; imports?: boolean }) => {
      const { validate } = await import('./commands/validate.js');
      exitCode = await validate({ ...program.opts(), ...opts, path }, out);
    });
  program
    .command('explain')
    .description('describe a blueprint in plain language')
    .argument('[path]', 'blueprint file', 'pipeline.yaml')
    .action(async (path: string) => {
      const { explainCommand } = await import('./commands/explain.js');
      exitCode = await explainCommand({ ...program.opts(), path }, out);
    });
  program
    .command('visualize')
    .description('draw a blueprint as a Mermaid flowchart or a text tree')
    .argument('[path]', 'blueprint file', 'pipeline.yaml')
    .option('--format <format>', 'mermaid or text', 'mermaid')
    .action(async (path: string, opts: { format: string }) => {
      const { visualizeCommand } = await import('./commands/visualize.js');
      exitCode = await visualizeCommand({ ...program.opts(), ...opts, path }, out);
    });

  try {
    await program.parseAsync(argv);
  } catch (e) {
    if (e instanceof CommanderError) {
      // --help and --version end here with code 0; usage mistakes are configuration errors.
      return e.exitCode === 0 ? ExitCode.ok : ExitCode.config;
    }
    throw e;
  }
  return exitCode;
}

main(process.argv).then(
  (code) => {
    process.exitCode = code;
  },
  (e: unknown) => {
    const verbose = process.argv.includes('-v') || process.argv.includes('--verbose');
    if (isEngineError(e)) {
      out.error(`error: ${e.message}`);
      if (verbose && e.stack) out.error(e.stack);
      process.exit(e.exitCode);
    }
    out.error(`internal error: ${(e as Error)?.message ?? String(e)}`);
    out.error(
      verbose
        ? String((e as Error)?.stack)
        : 'This is a bug in Flujo; rerun with --verbose and report the output.',
    );
    process.exit(ExitCode.runtime);
  },
);
