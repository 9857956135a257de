/**
 * The command table's `flujo lens` entries: inspect, verify and audit recorded runs.
 */
import type { Command } from 'commander';

import type { TableContext } from './tableContext.js';

export function addLensCommands(program: Command, cx: TableContext): void {
  const { out, interrupts, exit } = cx;
  const lens = program.command('lens').description('inspect, verify and audit recorded runs');
  const g = () => program.opts<{ project?: string; stateUri?: string }>();
  lens
    .command('list')
    .description('recent runs, newest first')
    .option('--status <status>', 'running, paused, completed, failed or cancelled')
    .option('--pipeline <name>', 'only runs of this pipeline')
    .option('--since <when>', 'an ISO date, or a duration back from now: 30m, 2h, 3d')
    .option('--limit <n>', 'at most this many runs', '50')
    .option('--json', 'print a JSON array on stdout')
    .action(async (opts: Record<string, unknown>) => {
      const { lensList } = await import('./commands/lensList.js');
      exit(await lensList({ ...g(), ...opts }, out));
    });
  lens
    .command('show')
    .description('one run: failures first, summary, steps with input/output/error, final output')
    .argument('<run>', 'run id or unique prefix')
    .option('--verbose', 'full inputs and outputs instead of previews')
    .option('--all', 'list the steps the engine made too (the text leaves them out)')
    .option('--json', 'print a JSON object on stdout')
    .action(async (run: string, opts: Record<string, unknown>) => {
      const { lensShow } = await import('./commands/lensShow.js');
      // -v/--verbose is also a global flag; commander hands it to the program.
      const verbose = Boolean(opts.verbose ?? program.opts<{ verbose?: boolean }>().verbose);
      exit(await lensShow(run, { ...g(), ...opts, verbose }, out));
    });
  lens
    .command('trace')
    .description(
      'the tree of steps with status, durations, retries, branches, loops, pauses, costs',
    )
    .argument('<run>', 'run id or unique prefix')
    .option('--prompt-preview-len <n>', 'characters of agent input/output shown (-1 full, 0 none)')
    .option('--all', 'show the steps the engine made too (the text leaves them out)')
    .option('--json', 'print the spans (trace contract v1) on stdout')
    .action(async (run: string, opts: Record<string, unknown>) => {
      const { lensTrace } = await import('./commands/lensTrace.js');
      exit(await lensTrace(run, { ...g(), ...opts }, out));
    });
  lens
    .command('replay')
    .description('refold a run offline through its pipeline; exit 0 only if identical')
    .argument('<run>', 'run id or unique prefix')
    .option('--pipeline <file>', 'the pipeline file (default: the one the run recorded)')
    .option('--json', 'print a JSON object on stdout')
    .action(async (run: string, opts: Record<string, unknown>) => {
      const { lensReplay } = await import('./commands/lensReplay.js');
      exit(await lensReplay(run, { ...g(), ...opts }, out));
    });
  lens
    .command('verify')
    .description('check hash chains; names the first bad seq of each broken run')
    .argument('[run]', 'run id or unique prefix')
    .option('--all', 'verify every run')
    .option('--file <export>', 'verify an exported run (flujo lens export) with no database')
    .option('--json', 'print a JSON object on stdout')
    .action(
      async (run: string | undefined, opts: { all?: boolean; file?: string; json?: boolean }) => {
        const { lensVerify } = await import('./commands/lensVerify.js');
        exit(await lensVerify({ ...g(), ...opts, ...(run !== undefined ? { run } : {}) }, out));
      },
    );
  lens
    .command('costs')
    .description('spend by model, pipeline, step or day, over every run or one')
    .argument('[run]', 'run id or unique prefix')
    .option('--by <dimension>', 'model, pipeline, step or day', 'model')
    .option('--since <when>', 'an ISO date, or a duration back from now: 30m, 2h, 3d')
    .option('--json', 'print a JSON object on stdout')
    .action(async (run: string | undefined, opts: Record<string, unknown>) => {
      const { lensCosts } = await import('./commands/lensCosts.js');
      const { runArgument } = await import('./io.js');
      // An empty RUN is refused, not read as no RUN (every run).
      exit(await lensCosts(run === undefined ? run : runArgument(run), { ...g(), ...opts }, out));
    });
  lens
    .command('report')
    .description('an audit report: input, steps, prompt hashes, decisions, budget, chain head')
    .argument('<run>', 'run id or unique prefix')
    .option('--format <format>', 'md, json or html', 'md')
    .option('-o, --output <file>', 'write the report to a file')
    .option('--all', 'md/html: list the steps the engine made too (they are left out)')
    .option('--json', 'same as --format json')
    .action(async (run: string, opts: Record<string, unknown>, command: Command) => {
      const { lensReport } = await import('./commands/lensReport.js');
      // --json with another --format is refused; with --format json it says the same and is
      // taken, as it was (scripts pass both: CONTRACTS extends compatibly).
      const formatGiven = command.getOptionValueSource('format') === 'cli';
      exit(await lensReport(run, { ...g(), ...opts, formatGiven }, out));
    });
  lens
    .command('export')
    .description('write a self-verifying CBOR export of the run (flujo lens export RUN > run.cbor)')
    .argument('<run>', 'run id or unique prefix')
    .option('-o, --output <file>', 'write to a file instead of stdout')
    .option('--json', 'with -o: describe the export as JSON on stdout')
    .action(async (run: string, opts: Record<string, unknown>) => {
      const { lensExport } = await import('./commands/lensExport.js');
      exit(await lensExport(run, { ...g(), ...opts }, out));
    });
  lens
    .command('watch')
    .description('follow a live run, printing steps as they happen, until it completes or pauses')
    .argument('<run>', 'run id or unique prefix')
    .option('--interval <ms>', 'how often to look for new events', '250')
    .option('--all', 'show the steps the engine made too (the text leaves them out)')
    .option('--json', 'print one JSON object per line')
    .action(async (run: string, opts: Record<string, unknown>) => {
      const { lensWatch } = await import('./commands/lensWatch.js');
      exit(await lensWatch(run, { ...g(), ...opts }, out));
    });
  lens
    .command('rebuild')
    .description('recompute every read model from the ledger')
    .option('--json', 'print a JSON object on stdout')
    .action(async (opts: Record<string, unknown>) => {
      const { lensRebuild } = await import('./commands/lensRebuild.js');
      exit(await lensRebuild({ ...g(), ...opts }, out));
    });
  lens
    .command('renumber')
    .description(
      'repair a Postgres ledger restored from a cluster whose transaction counter was ahead',
    )
    .option('--dry-run', 'report what would be renumbered and change nothing')
    .option('--json', 'print a JSON object on stdout')
    .action(async (opts: Record<string, unknown>) => {
      const { lensRenumber } = await import('./commands/lensRenumber.js');
      exit(await lensRenumber({ ...g(), ...opts }, out));
    });
  lens
    .command('serve')
    .description('the web lens: runs, steps, costs and an inbox to answer paused runs')
    .option('--port <n>', 'port to listen on (0 picks a free one)', '7878')
    .option(
      '--host <address>',
      'address to bind; anything but loopback requires a token',
      '127.0.0.1',
    )
    .option('--token <token>', 'access token (default FLUJO_LENS_TOKEN, or random off loopback)')
    .action(async (opts: Record<string, unknown>) => {
      const { lensServe } = await import('./commands/lensServe.js');
      exit(await lensServe({ ...g(), ...opts }, out, interrupts));
    });
}
