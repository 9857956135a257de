#!/usr/bin/env node
/**
 * The `flujo` entry point: parses argv, lazy-loads one command module, maps errors to the stable
 * exit codes of CONTRACTS.md. The only file that calls process.exit.
 *
 * Over 400 lines: most of it is the declarative table of commands and flags, which reads as one
 * list.
 */
import { createRequire } from 'node:module';

import { Command, CommanderError, Option } from 'commander';

import { ExitCode, isEngineError } from '../errors.js';
import { createOutput, ignoreClosedPipes } from './output.js';
import type { Interrupts } from './session.js';

const pkg = createRequire(import.meta.url)('../../package.json') as { version: string };
const out = createOutput();
ignoreClosedPipes();

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

/** Set by a command whose process should end as it returns (stderr logs only, written sync). */
let exitNow = false;

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
    .command('create')
    .description('the Architect: write a pipeline.yaml for a goal (a recorded run; see lens)')
    .option('--goal <text>', 'what the pipeline should do')
    .option('--name <name>', "the pipeline name (default: the writer's, else from the goal)")
    .option('--output-dir <dir>', 'where pipeline.yaml goes (default: the project root)')
    .option('--non-interactive', 'never ask; needs --output-dir')
    .option('-f, --force', 'overwrite an existing pipeline.yaml')
    .option('--budget <usd>', 'also write [budgets.pipeline."<name>"] into flujo.toml')
    .option('--strict', 'an invalid blueprint is not written (exit 4)')
    .option('--no-agentic', 'no model: emit a one-step blueprint carrying the goal')
    .option('--model <id>', 'the model of the Architect and of the generated agents')
    .option('--json', 'print one JSON object on stdout')
    .action(async (opts: Record<string, unknown>) => {
      const { create } = await import('./commands/create.js');
      exitCode = await create({ ...global(), ...opts }, out, interrupts);
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
      exitCode = await run(pipeline, { ...global(), ...opts }, out, interrupts);
    });

  fleetOptions(program.command('resume'))
    .description('answer a paused run, or continue an interrupted one')
    .argument('<run>', 'run id or unique prefix')
    .option('-i, --input <value>', 'the answer (JSON, or text); `-` reads stdin')
    .option('--pipeline <file>', 'the pipeline file (default: the one the run recorded)')
    .option('--by <name>', 'who answers (recorded; default $USER)')
    .option('--question <path>', 'which open question to answer (its path; default the oldest)')
    .option(
      '--allow-changed-pipeline',
      'continue under a pipeline that changed since the run started (a decision that comes out differently stops it)',
    )
    .option('--json', 'print one JSON object on stdout')
    .action(async (runArg: string, opts: Record<string, unknown>) => {
      const { resume } = await import('./commands/resume.js');
      exitCode = await resume(runArg, { ...global(), ...opts }, out, interrupts);
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
    .option('--max-deliver <n>', 'deliveries of one message before it is given up (default 20)')
    .option(
      '--reconcile-after <seconds>',
      're-enqueue a running run after this long with no event and no queued message (default 300; 0: never)',
    )
    .option('--name <name>', 'this worker in logs and RunClaimed events (default worker-<pid>)')
    .action(async (opts: Record<string, unknown>) => {
      const { worker } = await import('./commands/worker.js');
      exitCode = await worker({ ...global(), ...opts }, out);
      // A stopped worker has handed its messages back and closed NATS and the ledger; a pipeline
      // import it gave up on (one still awaiting at the top level) must not keep it alive.
      exitNow = true;
    });

  fleetOptions(program.command('cancel'))
    .description('cancel a run that has not ended: paused, interrupted, or running elsewhere')
    .argument('<run>', 'run id or unique prefix')
    .option('--reason <text>', 'why (recorded with the cancel)')
    .option('--json', 'print one JSON object on stdout')
    .action(async (runArg: string, opts: Record<string, unknown>) => {
      const { cancel } = await import('./commands/cancel.js');
      exitCode = await cancel(runArg, { ...global(), ...opts }, out);
    });

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
      exitCode = await deadLettersList(opts, out);
    });
  natsOptions(dead.command('show'))
    .description('one dead letter: its headers and body')
    .argument('<seq>', 'its number, as list prints it')
    .option('--json', 'print a JSON object on stdout')
    .action(async (seq: string, opts: Record<string, unknown>) => {
      const { deadLettersShow } = await import('./commands/deadLetters.js');
      exitCode = await deadLettersShow(seq, opts, out);
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
        exitCode = await deadLettersAct(action, seq, opts, out);
      });
  natsOptions(dead.command('log'))
    .description('what was done with dead letters: every retry and purge, oldest first')
    .option('--run <id>', 'only those of this run (the whole id)')
    .option('--json', 'print a JSON array on stdout')
    .action(async (opts: Record<string, unknown>) => {
      const { deadLettersLog } = await import('./commands/deadLetters.js');
      exitCode = await deadLettersLog(opts, out);
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
      exitCode = await lensList({ ...g(), ...opts }, out);
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
      exitCode = await lensShow(run, { ...g(), ...opts, verbose }, out);
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
      exitCode = await lensTrace(run, { ...g(), ...opts }, out);
    });
  lens
    .command('replay')
    .description('refold a run offline through its pipeline; exit 0 only if identical')
    .argument('<run>', 'run id or unique prefix')
    .option('--pipeline <file>', 'the pipeline file (default: the one the run recorded)')
    .option('--json', 'print a JSON object on stdout')
    .action(async (run: string, opts: Record<string, unknown>) => {
      const { lensReplay } = await import('./commands/lensReplay.js');
      exitCode = await lensReplay(run, { ...g(), ...opts }, out);
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
        exitCode = await lensVerify({ ...g(), ...opts, ...(run ? { run } : {}) }, out);
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
      exitCode = await lensCosts(run, { ...g(), ...opts }, out);
    });
  lens
    .command('report')
    .description('an audit report: input, steps, prompt hashes, decisions, budget, chain head')
    .argument('<run>', 'run id or unique prefix')
    .option('--format <format>', 'md, json or html', 'md')
    .option('-o, --output <file>', 'write the report to a file')
    .option('--all', 'md/html: list the steps the engine made too (they are left out)')
    .option('--json', 'same as --format json')
    .action(async (run: string, opts: Record<string, unknown>) => {
      const { lensReport } = await import('./commands/lensReport.js');
      exitCode = await lensReport(run, { ...g(), ...opts }, out);
    });
  lens
    .command('export')
    .description('write a self-verifying CBOR export of the run (flujo lens export RUN > run.cbor)')
    .argument('<run>', 'run id or unique prefix')
    .option('-o, --output <file>', 'write to a file instead of stdout')
    .option('--json', 'with -o: describe the export as JSON on stdout')
    .action(async (run: string, opts: Record<string, unknown>) => {
      const { lensExport } = await import('./commands/lensExport.js');
      exitCode = await lensExport(run, { ...g(), ...opts }, out);
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
      exitCode = await lensWatch(run, { ...g(), ...opts }, out);
    });
  lens
    .command('rebuild')
    .description('recompute every read model from the ledger')
    .option('--json', 'print a JSON object on stdout')
    .action(async (opts: Record<string, unknown>) => {
      const { lensRebuild } = await import('./commands/lensRebuild.js');
      exitCode = await lensRebuild({ ...g(), ...opts }, out);
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
      exitCode = await lensServe({ ...g(), ...opts }, out, interrupts);
    });

  program
    .command('validate')
    .description('check a YAML blueprint: exit 0 valid, 4 invalid, 3 unresolved import')
    .argument('[path]', 'blueprint file', 'pipeline.yaml')
    .option('--format <format>', 'text, json or sarif', 'text')
    .addOption(new Option('--json', 'same as --format json').conflicts('format'))
    .option('--no-strict', 'report errors but exit 0')
    .option('--imports', 'also validate imported blueprints (always on)')
    .action(
      async (
        path: string,
        { json, ...opts }: { format: string; json?: boolean; strict: boolean; imports?: boolean },
      ) => {
        const { validate } = await import('./commands/validate.js');
        const format = json ? 'json' : opts.format;
        exitCode = await validate({ ...program.opts(), ...opts, format, path }, out);
      },
    );
  program
    .command('explain')
    .description('describe a blueprint in plain language')
    .argument('[path]', 'blueprint file', 'pipeline.yaml')
    .option('--json', 'one JSON object: {pipeline, path, explanation: [lines]}')
    .action(async (path: string, opts: { json?: boolean }) => {
      const { explainCommand } = await import('./commands/explain.js');
      exitCode = await explainCommand({ ...program.opts(), ...opts, path }, out);
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
    if (exitNow) process.exit(code);
  },
  (e: unknown) => {
    const verbose = process.argv.includes('-v') || process.argv.includes('--verbose');
    if (isEngineError(e)) {
      out.error(`error: ${e.message}`);
      if (verbose && e.stack) out.error(e.stack);
      process.exit(e.exitCode);
    }
    // A damaged SQLite file met while reading (the open itself names it, exit 2): not a bug.
    const code = (e as { code?: unknown })?.code;
    if (typeof code === 'string' && /^SQLITE_(CORRUPT|NOTADB)/.test(code)) {
      out.error(
        `error: [LEDGER_STORE] the SQLite ledger could not be read: ${(e as Error).message} (${code}). ` +
          'The file is damaged; nothing was changed. Find which runs are still whole with: flujo lens verify --all; ' +
          'export those with flujo lens export RUN -o FILE, and restore the file from a backup',
      );
      process.exit(ExitCode.runtime);
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
