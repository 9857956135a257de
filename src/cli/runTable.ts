/**
 * The command table's entries that start and steer runs: init, create, run, resume, worker and
 * cancel (main.ts adds them first, so `flujo --help` lists them in this order).
 */
import type { Command } from 'commander';

import type { TableContext } from './tableContext.js';

export function addRunCommands(program: Command, cx: TableContext): void {
  const { out, interrupts, global, exit, exitWhenDone } = cx;
  program
    .command('init')
    .description('scaffold a project: flujo.toml, pipeline.yaml, skills, .env.example, .gitignore')
    .option('-f, --force', 'overwrite existing files')
    .option('-y, --yes', 'do not ask for confirmation')
    .option('--json', 'print what was written as one JSON object on stdout')
    .action(async (opts: { force?: boolean; yes?: boolean; json?: boolean }) => {
      const { init } = await import('./commands/init.js');
      exit(await init({ ...global(), ...opts }, out));
    });

  program
    .command('create')
    .description('the Architect: write a pipeline.yaml for a goal (a recorded run; see lens)')
    .option('--goal <text>', 'what the pipeline should do')
    .option('--name <name>', "the pipeline name (default: the writer's, else from the goal)")
    .option('--output-dir <dir>', 'where pipeline.yaml goes (default: the project root)')
    .option('--non-interactive', 'never ask; needs --output-dir')
    .option('-f, --force', 'overwrite an existing pipeline.yaml')
    .option('--budget <usd>', 'also write [budgets.pipeline."<name>"] into flujo.toml')
    .option('--strict', 'an invalid blueprint is not written (exit 4)')
    .option(
      '--agentic',
      'a planner and a writer (the default; as Flujo, over FLUJO_ARCHITECT_MINIMAL)',
    )
    .option('--no-agentic', 'no model: emit a one-step blueprint carrying the goal')
    .option('--model <id>', 'the model of the Architect and of the generated agents')
    .option('--json', 'print one JSON object on stdout')
    .action(async (opts: Record<string, unknown>) => {
      const { create } = await import('./commands/create.js');
      exit(await create({ ...global(), ...opts }, out, interrupts));
    });

  /** `--fleet` and `--wait` of run, resume and cancel (src/cli/fleet.ts). */
  const fleetOptions = (c: Command) =>
    c
      .option('--fleet', 'publish to the fleet (flujo worker) over NATS instead of running here')
      .option(
        '--wait <seconds>',
        'with --fleet: wait this long for the outcome (default 60; 0: only queue)',
      );

  fleetOptions(program.command('run'))
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
      exit(await run(pipeline, { ...global(), ...opts }, out, interrupts));
    });

  fleetOptions(program.command('resume'))
    .description('answer a paused run, or continue an interrupted one')
    .argument('<run>', 'run id or unique prefix')
    .option('-i, --input <value>', 'the answer (JSON, or text); `-` reads stdin')
    .option(
      '--pipeline <file>',
      "the pipeline file (default: the one the run recorded; with --fleet, relative to the workers' project)",
    )
    .option('--by <name>', 'who answers (recorded; default $USER)')
    .option('--question <path>', 'which open question to answer (its path; default the oldest)')
    .option(
      '--allow-changed-pipeline',
      'continue under a pipeline that changed since the run started (a decision that comes out differently stops it)',
    )
    .option('--json', 'print one JSON object on stdout')
    .action(async (runArg: string, opts: Record<string, unknown>) => {
      const { resume } = await import('./commands/resume.js');
      exit(await resume(runArg, { ...global(), ...opts }, out, interrupts));
    });

  program
    .command('worker')
    .description(
      'run as a fleet worker: pull start/resume/cancel messages from NATS JetStream and run them',
    )
    .option('--nats <url>', `NATS server (default: FLUJO_NATS_URL, else nats://127.0.0.1:4222)`)
    .option(
      '--namespace <ns>',
      'the fleet on that server (default: FLUJO_NATS_NAMESPACE, else flujo)',
    )
    .option('--concurrency <n>', 'messages handled at once (default 4)')
    .option(
      '--ack-wait <seconds>',
      'redeliver a message after this long without a heartbeat (default 30)',
    )
    .option(
      '--max-deliver <n>',
      'failed handlings of one message before it is kept as a dead letter; redeliveries while a worker still handles it do not count (default 20)',
    )
    .option(
      '--reconcile-after <seconds>',
      're-enqueue a running run after this long with no event and no queued message (default 300; 0: never)',
    )
    .option('--name <name>', 'this worker in logs and RunClaimed events (default worker-<pid>)')
    .action(async (opts: Record<string, unknown>) => {
      const { worker } = await import('./commands/worker.js');
      exit(await worker({ ...global(), ...opts }, out));
      // A stopped worker has handed its messages back and closed NATS and the ledger; a pipeline
      // import it gave up on (one still awaiting at the top level) must not keep it alive.
      exitWhenDone();
    });

  fleetOptions(program.command('cancel'))
    .description('cancel a run that has not ended: paused, interrupted, or running elsewhere')
    .argument('<run>', 'run id or unique prefix')
    .option('--reason <text>', 'why (recorded with the cancel)')
    .option('--json', 'print one JSON object on stdout')
    .action(async (runArg: string, opts: Record<string, unknown>) => {
      const { cancel } = await import('./commands/cancel.js');
      exit(await cancel(runArg, { ...global(), ...opts }, out));
    });
}
