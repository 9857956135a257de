/**
 * `flujo create --goal "<text>"`: the Architect writes a pipeline.yaml for a goal. The Architect
 * is a pipeline run by our engine and recorded in the project's ledger (src/cli/architect), so a
 * create run shows up in `flujo lens` and verifies like any run (ADR 73). Exit 0 written, 1 the
 * Architect run failed, 2 usage or an existing file without --force, 4 invalid with --strict.
 */
import { randomUUID } from 'node:crypto';
import { userInfo } from 'node:os';
import { join, relative, resolve } from 'node:path';

import { resolveBudget } from '../../adapters/agents/budgets.js';
import { stepNameProblem } from '../../dsl/checks.js';
import { EngineError, ErrorCode, ExitCode, isEngineError, withoutCode } from '../../errors.js';
import { initFastHash } from '../../events/chain.js';
import { createEngine } from '../../runtime/engine.js';
import { agentsFor, catalogOf, preflight, projectSkills } from '../agents.js';
import {
  ARCHITECT_SOURCE,
  architectPipeline,
  minimalPipeline,
  type ArchitectPlan,
  type ArchitectRequest,
  type ArchitectResult,
} from '../architect/pipeline.js';
import { tomlKey, withBudget } from '../architect/budget.js';
import { draftRoot, slugOf } from '../architect/draft.js';
import { checkTarget, shownPath, writeTarget, type Target } from '../architect/target.js';
import { ask } from '../ask.js';
import { openProjectState, projectConfig, type GlobalOptions } from '../context.js';
import { numberFlag } from '../io.js';
import type { Output } from '../output.js';
import type { Interrupts } from '../session.js';
import { engineSettings } from '../session.js';
import { flujoCommand, runIdWords } from '../shell.js';

export interface CreateFlags extends GlobalOptions {
  readonly goal?: string;
  readonly name?: string;
  readonly outputDir?: string;
  readonly nonInteractive?: boolean;
  readonly force?: boolean;
  readonly budget?: string;
  readonly strict?: boolean;
  /** `--agentic` (Flujo's flag for the default): true; `--no-agentic`: false; else undefined. */
  readonly agentic?: boolean;
  readonly model?: string;
  readonly json?: boolean;
}

/** The model of the Architect's agents and of the generated agent steps, unless --model. */
export const DEFAULT_ARCHITECT_MODEL = 'openai:gpt-4o-mini';

const usage = (message: string) =>
  new EngineError(ErrorCode.USAGE, message, { exitCode: ExitCode.config });

/**
 * --name as given, or a USAGE refusal before anything runs: an empty name (an unset shell
 * variable), or one V-K4 refuses (a control character), which the written file could not run.
 */
function nameFlag(name: string | undefined): string | undefined {
  if (name === undefined) return undefined;
  if (name.trim() === '')
    throw usage(
      `--name is empty: give the pipeline a name (--name summarize), or leave the flag out for the writer's`,
    );
  const problem = stepNameProblem(name);
  if (problem)
    throw usage(
      `--name ${problem}; write the name without control characters (a newline, a tab, DEL…)`,
    );
  return name;
}

/** Why a stopped Architect run was cancelled, as RunCancelled records it. */
const INTERRUPTED_RUNNING = 'interrupted (Ctrl-C) while the Architect ran';
const INTERRUPTED_ASKING = 'interrupted (Ctrl-C or Ctrl-D) at the plan approval';

/** The person at the terminal, as an answer's `by` and a cancel's record them. */
function user(env: NodeJS.ProcessEnv): string {
  try {
    return env.USER || env.USERNAME || userInfo().username || 'unknown';
  } catch {
    return 'unknown';
  }
}

export async function create(flags: CreateFlags, out: Output, interrupts: Interrupts) {
  const env = process.env;
  const cwd = process.cwd();
  const interactive = !flags.nonInteractive && Boolean(process.stdin.isTTY && process.stderr.isTTY);
  if (flags.nonInteractive && flags.outputDir === undefined)
    throw usage(
      '--non-interactive needs --output-dir: say where pipeline.yaml goes, e.g. --output-dir .',
    );
  const budgetUsd = numberFlag('--budget', flags.budget);
  const name = nameFlag(flags.name);
  let goal = flags.goal?.trim();
  if (!goal && interactive) goal = await ask('What should the pipeline do? ');
  if (!goal)
    throw usage(
      `--goal is required: ${flujoCommand('create --goal "summarize a text in three bullets"')}`,
    );
  // --agentic (Flujo's flag for the default) wins over FLUJO_ARCHITECT_MINIMAL, as a flag does.
  const agentic = flags.agentic ?? env.FLUJO_ARCHITECT_MINIMAL !== '1';
  const model = flags.model ?? env.FLUJO_ARCHITECT_MODEL ?? DEFAULT_ARCHITECT_MODEL;
  const hitl = agentic && ['1', 'true'].includes(env.FLUJO_CREATE_HITL ?? '');
  if (hitl && !interactive)
    out.info(
      'note: FLUJO_CREATE_HITL asks for plan approval on a terminal only; the plan is approved without asking',
    );

  // A --project folder that is not there yet is where the draft is written (made with it).
  const cfg = projectConfig(flags, env, cwd, { mayNotExist: true });
  for (const w of cfg.warnings) out.info(`warning: ${w}`);
  const dir = resolve(cwd, flags.outputDir ?? cfg.root);
  const file = join(dir, 'pipeline.yaml');
  const shown = shownPath(cwd, file);
  // What the draft names is read only inside the root the written file is validated and run in:
  // the project, or the output folder when that is outside it (ADR 150).
  const root = draftRoot(cfg.root, dir);
  const tomlFile = cfg.file ?? join(cfg.root, 'flujo.toml');
  const target: Target = {
    dir,
    file,
    root,
    force: Boolean(flags.force),
    cwd,
    ...(budgetUsd !== undefined ? { budget: { file: tomlFile, projectRoot: cfg.root } } : {}),
  };
  // Everything that can be checked is, before any model is called: the folder, pipeline.yaml,
  // flujo.toml, and the budget's edit when the name is known already.
  const ready = checkTarget(target, 'nothing was written');
  const knownName = name ?? (agentic ? undefined : slugOf(goal));
  if (budgetUsd !== undefined && knownName !== undefined && ready.toml)
    withBudget(ready.toml.text, knownName, budgetUsd, shownPath(cwd, tomlFile));

  const registry = await projectSkills(cfg);
  const deps = { root, file, skills: catalogOf(registry) };
  const request: ArchitectRequest = {
    goal,
    ...(name !== undefined ? { name } : {}),
    model,
    file: relative(root, file) || 'pipeline.yaml',
    ...(hitl && interactive ? { approve_plan: true as const } : {}),
    skills: registry
      .list()
      .filter((s) => s.kind === 'skill')
      .map((s) => ({
        id: s.id,
        description: s.description,
        input_schema: s.inputSchema ?? null,
        side_effects: s.sideEffects,
      })),
  };
  const pipeline = agentic ? architectPipeline(request, deps) : minimalPipeline(request, deps);
  // A missing key for the Architect's model is a configuration error (exit 2) before any run.
  if (agentic) await preflight(cfg, pipeline.plan);
  await initFastHash();

  const budget = resolveBudget(cfg.toml.budgets, pipeline.plan.ir.name, {});
  const state = await openProjectState(cfg);
  const runId = randomUUID();
  const seeRun = flujoCommand(`lens show ${runIdWords(runId)}`);
  /** The --json of a create that wrote nothing: the run, and what it came to. */
  const nothingWritten = (rest: Record<string, unknown>) => ({
    run_id: runId,
    path: null,
    name: null,
    valid: false,
    findings: [],
    ...rest,
  });
  let result;
  try {
    const engine = createEngine({
      ...engineSettings(cfg),
      ledger: state.ledger,
      worker: `cli-${process.pid}`,
      agents: agentsFor(cfg, registry),
    });
    // A stopped Architect run is cancelled, by whom and why recorded: nothing can take it up,
    // since create writes the file (ADR 158).
    const cancelled = async (why: string, status: string) => {
      const after = await engine
        .cancel(runId, why, `${user(env)} (flujo create)`)
        .catch(() => undefined);
      const where =
        why === INTERRUPTED_RUNNING ? 'while the Architect ran' : 'at the plan approval';
      const now = after?.status ?? status;
      const message = `interrupted ${where}; nothing was written, and the Architect run ${runId} is ${now} (${seeRun})`;
      if (flags.json)
        out.json(nothingWritten({ status: now, error: { code: ErrorCode.INTERRUPTED, message } }));
      return new EngineError(ErrorCode.INTERRUPTED, message, { exitCode: ExitCode.interrupted });
    };
    let interrupted = false;
    const stop = interrupts.onInterrupt(() => {
      interrupted = true;
      out.info('interrupted: stopping the Architect; nothing is written');
      void engine.detach();
    });
    try {
      if (!flags.json) out.info(`Architect run ${runId} (${agentic ? model : 'no model'})`);
      result = await engine.run(pipeline.plan, request, {
        runId,
        source: ARCHITECT_SOURCE,
        context: { initial_prompt: goal, architect: request },
        // [budgets.default] and a [budgets.pipeline."flujo.architect*"] cap it, as any run.
        ...(Object.keys(budget).length > 0 ? { budget } : {}),
      });
      // FLUJO_CREATE_HITL on a terminal: the run pauses at approve_plan until the person answers.
      while (!interrupted && result.status === 'paused') {
        const plan = result.steps.find((s) => s.name === 'plan')?.output as
          ArchitectPlan | undefined;
        out.info(`Plan: ${plan?.plan_summary ?? '(none)'}`);
        for (const s of plan?.steps ?? []) out.info(`  - ${s.step_name}: ${s.purpose}`);
        let answer: string;
        try {
          answer = (await ask('Use this plan? [Y/n] ')).toLowerCase();
        } catch (e) {
          if (isEngineError(e, ErrorCode.INTERRUPTED))
            throw await cancelled(INTERRUPTED_ASKING, result.status);
          throw e;
        }
        const approved = answer === '' || answer === 'y' || answer === 'yes';
        result = await engine.resume(pipeline.plan, runId, {
          humanInput: { approved },
          answeredBy: user(env),
        });
      }
      // Ctrl-C while it ran: nothing is written, whatever the run came to.
      if (interrupted) throw await cancelled(INTERRUPTED_RUNNING, result.status);
    } finally {
      stop();
    }
  } finally {
    await state.close();
  }
  if (result.status !== 'completed') {
    // `{code, message}` as every command's --json prints an error (a cancelled run has none, as
    // in run's JSON), the code named once.
    const e = result.error;
    const error = e ? { code: e.code, message: withoutCode(e.message) } : undefined;
    if (flags.json)
      out.json(nothingWritten({ status: result.status, ...(error ? { error } : {}) }));
    out.error(
      error
        ? `error: [${error.code}] the Architect run ${runId} ${result.status}: ${error.message}`
        : `error: the Architect run ${runId} ${result.status}; nothing was written`,
    );
    out.error(`see: ${seeRun}`);
    return ExitCode.runtime;
  }
  if ((result.output as { rejected?: boolean }).rejected) {
    if (flags.json)
      out.json(nothingWritten({ plan: (result.output as { plan: unknown }).plan, rejected: true }));
    out.info(`plan rejected; nothing was written. Architect run: ${seeRun}`);
    return ExitCode.ok;
  }
  const r = result.output as ArchitectResult;
  const rounds = result.steps.filter((s) => s.name === 'validate').length;
  const roundsSaid = `${rounds} round${rounds === 1 ? '' : 's'}`;
  // Each finding at its own file (the draft, an import, a prompt file), relative to the current
  // folder as `flujo validate` prints it.
  const asShown = (rel: string) => relative(cwd, resolve(root, rel)) || rel;
  const findings = r.findings.map((f) => ({ ...f, file: asShown(f.file) }));
  // The modules the draft calls exist in the root; their exports were not checked (ADR 151).
  const unchecked = (r.unchecked_modules ?? []).map(asShown);
  const report = (path: string | null) => ({
    run_id: runId,
    path,
    name: r.name,
    valid: r.valid,
    rounds,
    findings,
    ...(unchecked.length > 0 ? { unchecked_modules: unchecked } : {}),
    plan: r.plan,
  });
  const printFindings = () => {
    for (const f of findings)
      out.info(
        `${f.file}:${f.line}:${f.column}: ${f.severity} ${f.rule_id}: ${f.message}${f.suggestion ? ` (${f.suggestion})` : ''}`,
      );
  };

  if (!r.valid && flags.strict) {
    if (flags.json) out.json(report(null));
    printFindings();
    out.error(
      `error: [${ErrorCode.BLUEPRINT_INVALID}] the Architect's blueprint is still invalid after ${roundsSaid}; nothing was written (--strict). Drop --strict to write it anyway, then fix it with: ${flujoCommand('validate')}`,
    );
    return ExitCode.validation;
  }
  // Checked again (the folder may have changed while the Architect ran), then both files are
  // written or neither. A refusal now names the run that holds the draft, which was paid for.
  const kept = `nothing was written. The draft is kept in the Architect run: ${flujoCommand(`lens show ${runIdWords(runId)} --json --verbose`)} prints it (its result step's output.yaml)`;
  try {
    const checked = checkTarget(target, kept);
    const toml =
      budgetUsd !== undefined && checked.toml
        ? withBudget(checked.toml.text, r.name, budgetUsd, shownPath(cwd, tomlFile), kept)
        : undefined;
    writeTarget(target, checked, r.yaml, toml, kept);
  } catch (e) {
    if (flags.json && isEngineError(e))
      out.json({ ...report(null), error: { code: e.code, message: withoutCode(e.message) } });
    throw e;
  }

  if (flags.json) out.json(report(file));
  else {
    printFindings();
    out.info(
      `${r.valid ? out.color.ok('✓') : out.color.bad('✗')} wrote ${shown}: pipeline "${r.name}"${r.valid ? '' : ` (invalid after ${roundsSaid}; fix it, then: ${flujoCommand(`validate ${shown}`)})`}`,
    );
    if (r.valid && unchecked.length > 0)
      out.info(
        `note: not checked: the export${unchecked.length === 1 ? '' : 's'} of ${unchecked.join(', ')} (create imports no module the model chose; flujo validate imports ${unchecked.length === 1 ? 'it' : 'them'}, as flujo run does)`,
      );
    if (budgetUsd !== undefined)
      out.info(
        `budget: [budgets.pipeline.${tomlKey(r.name)}] total_cost_usd_limit = ${budgetUsd} in ${shownPath(cwd, tomlFile)}`,
      );
    out.info(`Architect run: ${seeRun}`);
    if (r.valid && unchecked.length > 0)
      out.info(
        `Next: ${flujoCommand(`validate ${shown}`)}, then ${flujoCommand(`run ${shown} --input "…"`)}`,
      );
    else if (r.valid) out.info(`Next: ${flujoCommand(`run ${shown} --input "…"`)}`);
  }
  return ExitCode.ok;
}
