/**
 * The command table's blueprint entries: validate, explain and visualize a YAML blueprint or a
 * pipeline module. Without PATH, the project's pipeline.yaml (found as `flujo run` finds it).
 */
import { Option, type Command } from 'commander';

import type { TableContext } from './tableContext.js';

export function addBlueprintCommands(program: Command, cx: TableContext): void {
  const { out, exit } = cx;
  program
    .command('validate')
    .description('check a YAML blueprint or pipeline module: exit 0 valid, 4 invalid, 3 unresolved')
    .argument('[path]', "blueprint or pipeline module (default: the project's pipeline.yaml)")
    .option('--format <format>', 'text, json or sarif', 'text')
    .addOption(new Option('--json', 'same as --format json').conflicts('format'))
    .option('--no-strict', 'report errors but exit 0')
    .option('--imports', 'also validate imported blueprints (always on)')
    .action(
      async (
        path: string | undefined,
        { json, ...opts }: { format: string; json?: boolean; strict: boolean; imports?: boolean },
      ) => {
        const { validate } = await import('./commands/validate.js');
        const format = json ? 'json' : opts.format;
        exit(await validate({ ...program.opts(), ...opts, format, path }, out));
      },
    );
  program
    .command('explain')
    .description('describe a pipeline in plain language')
    .argument('[path]', "blueprint or pipeline module (default: the project's pipeline.yaml)")
    .option('--json', 'one JSON object: {pipeline, path, explanation: [lines]}')
    .action(async (path: string | undefined, opts: { json?: boolean }) => {
      const { explainCommand } = await import('./commands/explain.js');
      exit(await explainCommand({ ...program.opts(), ...opts, path }, out));
    });
  program
    .command('visualize')
    .description('draw a pipeline as a Mermaid flowchart or a text tree')
    .argument('[path]', "blueprint or pipeline module (default: the project's pipeline.yaml)")
    .option('--format <format>', 'mermaid or text', 'mermaid')
    .option('--json', 'one JSON object: {pipeline, path, format, diagram}')
    .action(async (path: string | undefined, opts: { format: string; json?: boolean }) => {
      const { visualizeCommand } = await import('./commands/visualize.js');
      exit(await visualizeCommand({ ...program.opts(), ...opts, path }, out));
    });
}
