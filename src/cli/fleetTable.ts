/**
 * The command table's `flujo fleet` entries: the dead letters of the NATS fleet (list, show, retry,
 * purge, log).
 */
import type { Command } from 'commander';

import type { TableContext } from './tableContext.js';

export function addFleetCommands(program: Command, cx: TableContext): void {
  const { out, exit } = cx;
  const fleet = program
    .command('fleet')
    .description('look after the fleet (flujo worker over NATS)');
  const dead = fleet
    .command('dead-letters')
    .description('work messages the workers gave up on (<NS>_DEAD): list, show, retry, purge, log');
  /** `--nats` and `--namespace`, as on `flujo worker`. */
  const natsOptions = (c: Command) =>
    c
      .option('--nats <url>', 'NATS server (default: FLUJO_NATS_URL, else nats://127.0.0.1:4222)')
      .option(
        '--namespace <ns>',
        'the fleet on that server (default: FLUJO_NATS_NAMESPACE, else flujo)',
      );
  natsOptions(dead.command('list', { isDefault: true }))
    .description('the dead letters kept, newest first')
    .option('--run <id>', 'only those of this run (the whole id)')
    .option('--kind <kind>', 'only start, resume or cancel messages')
    .option('--limit <n>', 'at most this many', '50')
    .option('--json', 'print a JSON array on stdout')
    .action(async (opts: Record<string, unknown>) => {
      const { deadLettersList } = await import('./commands/deadLetters.js');
      exit(await deadLettersList(opts, out));
    });
  natsOptions(dead.command('show'))
    .description('one dead letter: its headers and body')
    .argument('<seq>', 'its number, as list prints it')
    .option('--json', 'print a JSON object on stdout')
    .action(async (seq: string, opts: Record<string, unknown>) => {
      const { deadLettersShow } = await import('./commands/deadLetters.js');
      exit(await deadLettersShow(seq, opts, out));
    });
  for (const action of ['retry', 'purge'] as const)
    natsOptions(dead.command(action))
      .description(
        action === 'retry'
          ? 'publish a dead letter again as a work message (once its cause is fixed), then remove it; recorded'
          : 'remove a dead letter for good; recorded (its digest, not its body)',
      )
      .argument('<seq>', 'its number, as list prints it')
      .option('--by <name>', 'who does it (recorded; default $USER)')
      .option('--note <text>', 'why (recorded)')
      .option('--json', 'print what was recorded as a JSON object on stdout')
      .action(async (seq: string, opts: Record<string, unknown>) => {
        const { deadLettersAct } = await import('./commands/deadLetters.js');
        exit(await deadLettersAct(action, seq, opts, out));
      });
  natsOptions(dead.command('log'))
    .description('what was done with dead letters: every retry and purge, oldest first')
    .option('--run <id>', 'only those of this run (the whole id)')
    .option('--json', 'print a JSON array on stdout')
    .action(async (opts: Record<string, unknown>) => {
      const { deadLettersLog } = await import('./commands/deadLetters.js');
      exit(await deadLettersLog(opts, out));
    });
}
