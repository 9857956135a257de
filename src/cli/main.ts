#!/usr/bin/env node
/**
 * The `flujo` entry point: parses argv, lazy-loads one command module, maps errors to the stable
 * exit codes of CONTRACTS.md. The only file that calls process.exit.
 */
import { createRequire } from 'node:module';

import { Command, CommanderError } from 'commander';

import { ExitCode, isEngineError } from '../errors.js';
import { createOutput } from './output.js';

const pkg = createRequire(import.meta.url)('../../package.json') as { version: string };
const out = createOutput();

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
