/**
 * `flujo create --goal "<text>"`: the Architect writes a pipeline.yaml for a goal. The Architect
 * is a pipeline run by our engine and recorded in the project's ledger (src/cli/architect), so a
 * create run shows up in `flujo lens` and verifies like any run (ADR 73). Exit 0 written, 1 the
 * Architect run failed, 2 usage or an existing file without --force, 4 invalid with --strict.
 */
import { randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { createInterface } from 'node:readline/promises';

import { resolveBudget } from '../../adapters/agents/budgets.js';
import { ConfigError, EngineError, ErrorCode, ExitCode, withoutCode } from '../../errors.js';
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
import { draftRoot } from '../architect/draft.js';
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
  /** Commander's `--no-agentic`: false when given. */
  readonly agentic?: boolean;
  readonly model?: string;
  readonly json?: boolean;
}

/** The model of the Architect's agents and of the generated agent steps, unless --model. */
export const DEFAULT_ARCHITECT_MODEL = 'openai:gpt-4o-mini';

const usage = (message: string) =>
  new EngineError(ErrorCode.USAGE, message, { exitCode: ExitCode.config });

/** Asks on the terminal; Ctrl-C there (readline takes it, not the process) is exit 130. */
async function ask(question: string): Promise<string> {
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  const ac = new AbortController();
  rl.on('SIGINT', () => ac.abort());
  try {
    return (await rl.question(question, { signal: ac.signal })).trim();
  } catch (e) {
    if (ac.signal.aborted)
      throw new EngineError(ErrorCode.INTERRUPTED, 'interrupted; nothing was written', {
        exitCode: ExitCode.interrupted,
      });
    throw e;
  } finally {
    rl.close();
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
  let goal = flags.goal?.trim();
  if (!goal && interactive) goal = await ask('What should the pipeline do? ');
  if (!goal)
    throw usage(
      `--goal is required: ${flujoCommand('create --goal "summarize a text in three bullets"')}`,
    );
  const agentic = flags.agentic !== false && env.FLUJO_ARCHITECT_MINIMAL !== '1';
  const model = flags.model ?? env.FLUJO_ARCHITECT_MODEL ?? DEFAULT_ARCHITECT_MODEL;
  const hitl = agentic && ['1', 'true'].includes(env.FLUJO_CREATE_HITL ?? '');
  if (hitl && !interactive)
    out.info(
      'note: FLUJO_CREATE_HITL asks for plan approval on a terminal only; the plan is approved without asking',
    );

  const cfg = projectConfig(flags, env, cwd);
  for (const w of cfg.warnings) out.info(`warning: ${w}`);
  const dir = resolve(cwd, flags.outputDir ?? cfg.root);
  const file = join(dir, 'pipeline.yaml');
  const shown = relative(cwd, file) || file;
  const refuseExisting = () => {
    if (existsSync(file) && !flags.force)
      throw new ConfigError(
        ErrorCode.CONFIG_INVALID,
        `${shown} already exists; nothing was written. Use --force to overwrite it, or --output-dir to write elsewhere`,
        { file },
      );
  };
  refuseExisting();

  const registry = await projectSkills(cfg);
  // What the draft names is read only inside the root the written file is validated and run in:
  // the project, or the output folder when that is outside it (ADR 150).
  const root = draftRoot(cfg.root, dir);
  const deps = { root, file, skills: catalogOf(registry) };
  const request: ArchitectRequest = {
    goal,
    ...(flags.name ? { name: flags.name } : {}),
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
  let result;
  try {
    const engine = createEngine({
      ...engineSettings(cfg),
      ledger: state.ledger,
      worker: `cli-${process.pid}`,
      agents: agentsFor(cfg, registry),
    });
    const stop = interrupts.onInterrupt(() => {
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
      while (result.status === 'paused') {
        const plan = result.steps.find((s) => s.name === 'plan')?.output as
          ArchitectPlan | undefined;
        out.info(`Plan: ${plan?.plan_summary ?? '(none)'}`);
        for (const s of plan?.steps ?? []) out.info(`  - ${s.step_name}: ${s.purpose}`);
        const answer = (await ask('Use this plan? [Y/n] ')).toLowerCase();
        const approved = answer === '' || answer === 'y' || answer === 'yes';
        result = await engine.resume(pipeline.plan, runId, {
          humanInput: { approved },
          answeredBy: env.USER ?? env.USERNAME ?? 'unknown',
        });
      }
    } finally {
      stop();
    }
  } finally {
    await state.close();
  }
  if (result.status === 'running') return ExitCode.interrupted;
  if (result.status !== 'completed') {
    // `{code, message}` as every command's --json prints an error (a cancelled run has none, as
    // in run's JSON), the code named once.
    const e = result.error;
    const error = e ? { code: e.code, message: withoutCode(e.message) } : undefined;
    if (flags.json)
      out.json({
        run_id: runId,
        path: null,
        name: null,
        valid: false,
        findings: [],
        status: result.status,
        ...(error ? { error } : {}),
      });
    out.error(
      error
        ? `error: [${error.code}] the Architect run ${runId} ${result.status}: ${error.message}`
        : `error: the Architect run ${runId} ${result.status}; nothing was written`,
    );
    out.error(`see: ${flujoCommand(`lens show ${runIdWords(runId)}`)}`);
    return ExitCode.runtime;
  }
  if ((result.output as { rejected?: boolean }).rejected) {
    if (flags.json)
      out.json({
        run_id: runId,
        path: null,
        name: null,
        valid: false,
        findings: [],
        plan: (result.output as { plan: unknown }).plan,
        rejected: true,
      });
    out.info(
      `plan rejected; nothing was written. Architect run: ${flujoCommand(`lens show ${runIdWords(runId)}`)}`,
    );
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
  // The file may have appeared while the Architect ran.
  refuseExisting();
  mkdirSync(dir, { recursive: true });
  writeFileSync(file, r.yaml);
  if (budgetUsd !== undefined) writeBudget(join(cfg.root, 'flujo.toml'), r.name, budgetUsd);

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
      out.info(`budget: [budgets.pipeline."${r.name}"] total_cost_usd_limit = ${budgetUsd}`);
    out.info(`Architect run: ${flujoCommand(`lens show ${runIdWords(runId)}`)}`);
    if (r.valid && unchecked.length > 0)
      out.info(
        `Next: ${flujoCommand(`validate ${shown}`)}, then ${flujoCommand(`run ${shown} --input "…"`)}`,
      );
    else if (r.valid) out.info(`Next: ${flujoCommand(`run ${shown} --input "…"`)}`);
  }
  return ExitCode.ok;
}

/**
 * Sets `[budgets.pipeline."<name>"] total_cost_usd_limit` in flujo.toml, leaving every other
 * line as it is: the key is replaced inside an existing table, else the table is appended.
 */
export function writeBudget(tomlFile: string, name: string, usd: number): void {
  const text = existsSync(tomlFile) ? readFileSync(tomlFile, 'utf8') : '';
  const header = `[budgets.pipeline.${JSON.stringify(name)}]`;
  const lines = text.split('\n');
  const at = lines.findIndex((l) => l.trim() === header);
  const limit = `total_cost_usd_limit = ${usd}`;
  if (at >= 0) {
    let end = lines.findIndex((l, i) => i > at && /^\s*\[/.test(l));
    if (end < 0) end = lines.length;
    const key = lines.findIndex(
      (l, i) => i > at && i < end && /^\s*total_cost_usd_limit\s*=/.test(l),
    );
    if (key >= 0) lines[key] = limit;
    else lines.splice(at + 1, 0, limit);
    writeFileSync(tomlFile, lines.join('\n'));
    return;
  }
  const sep = text === '' || text.endsWith('\n\n') ? '' : text.endsWith('\n') ? '\n' : '\n\n';
  writeFileSync(tomlFile, `${text}${sep}${header}\n${limit}\n`);
}
