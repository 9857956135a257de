/**
 * The Architect behind `flujo create`: a pipeline of our own DSL, run by our engine and recorded
 * in the project's ledger like any run (ADR 73). Agentic: a planner agent turns the goal and the
 * project's skills into a plan, a writer agent drafts the blueprint, our validator checks it in
 * memory, and the writer repairs it from the findings (line:column) for up to MAX_ROUNDS rounds.
 * Minimal (`--no-agentic`): one function step emits a one-agent-step blueprint, then the same
 * validation. Both end in a `result` step whose output is an ArchitectResult.
 */
import { parseDocument } from 'yaml';
import { z } from 'zod';

import { hasTemplate } from '../../blueprint/template.js';
import {
  agentStep,
  conditional,
  definePipeline,
  hitl,
  loop,
  sequence,
  step,
  type Flow,
} from '../../dsl/builder.js';
import {
  checkDraft,
  slugOf,
  withName,
  yamlOf,
  type ArchitectDeps,
  type ArchitectFinding,
  type Draft,
} from './draft.js';

export type { ArchitectDeps, ArchitectFinding, Draft } from './draft.js';

/** What a create run records as its pipeline source (RunStarted.pipeline.source). */
export const ARCHITECT_SOURCE = 'flujo:create';

/** Writer rounds: the first draft and up to two repairs. */
export const MAX_ROUNDS = 3;

/** What the Architect is asked (the run's input). */
export interface ArchitectRequest {
  readonly goal: string;
  /** The pipeline name to inject; absent: the writer's, else one made from the goal. */
  readonly name?: string;
  /** The model the generated agent steps use. */
  readonly model: string;
  /**
   * The file the blueprint is written to, relative to the draft's root (ArchitectDeps.root; was
   * the project root, `../…` for an output folder outside it, in runs recorded before ADR 150).
   */
  readonly file: string;
  readonly skills: readonly SkillInfo[];
  /** FLUJO_CREATE_HITL on a terminal: the run pauses for a person to approve the plan. */
  readonly approve_plan?: true;
}

export interface SkillInfo {
  readonly id: string;
  readonly description: string;
  readonly input_schema: unknown;
  readonly side_effects: boolean;
}

export const PlanSchema = z.object({
  plan_summary: z.string(),
  steps: z.array(z.object({ step_name: z.string(), purpose: z.string() })),
});
export type ArchitectPlan = z.infer<typeof PlanSchema>;

export interface ArchitectResult extends Draft {
  readonly plan: ArchitectPlan | null;
}

function draft(reply: unknown, request: ArchitectRequest, deps: ArchitectDeps): Draft {
  const named = withName(yamlOf(reply), request.name, request.goal);
  const { findings, modules } = checkDraft(named.yaml, deps);
  return {
    ...named,
    valid: !findings.some((f) => f.severity === 'error'),
    findings,
    ...(modules.length > 0 ? { unchecked_modules: modules } : {}),
  };
}

const json = (v: unknown) => JSON.stringify(v, null, 2);

const PLANNER_SYSTEM = [
  'You are the planner of Flujo, a workflow engine. Given a goal and the skills the project',
  'offers, plan a small pipeline: a few steps, each with a short snake_case step_name and its',
  'purpose. Use a skill where one fits; otherwise a step is a call to a language model.',
  'Answer with JSON: {"plan_summary": string, "steps": [{"step_name": string, "purpose": string}]}.',
].join('\n');

const WRITER_SYSTEM = [
  'You write Flujo YAML blueprints. Answer with the YAML only, in one ```yaml block.',
  'The format:',
  '```yaml',
  'version: "0.1"',
  'name: my-pipeline',
  'agents:',
  '  writer:                       # a language model agent',
  '    model: "openai:gpt-4o-mini"',
  '    system_prompt: "What the agent does."',
  '    output_schema: { type: object, properties: { text: { type: string } }, required: [text] }  # optional',
  'steps:',
  '  - kind: step',
  '    name: draft',
  '    uses: agents.writer',
  '    input: "{{ context.initial_prompt }}"     # the run input',
  '  - kind: step',
  '    name: clean',
  '    agent: { id: flujo.builtins.stringify }  # a skill, by id',
  '    input: "{{ steps.draft.output }}"',
  '  - kind: hitl                   # a pause for a person',
  '    name: approve',
  '    message: "Approve? {{ previous_step }}"',
  '```',
  'Templates: {{ context.initial_prompt }}, {{ previous_step }}, {{ steps.<name>.output }}.',
  'Use only the skills listed, and only keys shown here. Step names are unique.',
].join('\n');

function plannerPrompt(r: ArchitectRequest): string {
  return `Goal: ${r.goal}\n\nAvailable skills (id, description, input_schema):\n${json(
    r.skills.map((s) => ({
      id: s.id,
      description: s.description,
      input_schema: s.input_schema,
      ...(s.side_effects ? { side_effects: true } : {}),
    })),
  )}`;
}

/** A finding as a run recorded it: `file` is absent in runs recorded before ADR 150. */
type Recorded = Omit<ArchitectFinding, 'file'> & { readonly file?: string };

function writerPrompt(previous: unknown, r: ArchitectRequest, plan: unknown): string {
  const head = [
    `Goal: ${r.goal}`,
    `Model for agent steps: "${r.model}"`,
    ...(r.name ? [`Pipeline name: ${r.name}`] : []),
    `Plan:\n${json(plan)}`,
    `Available skills: ${r.skills.map((s) => s.id).join(', ')}`,
  ];
  const last = previous as Partial<Draft> | undefined;
  if (last && typeof last === 'object' && Array.isArray(last.findings)) {
    // Each at its own file (an import, a prompt file); a run recorded before findings named
    // their file had only the draft's, and replays with the prompt it sent.
    const problems = (last.findings as readonly Recorded[])
      .filter((f) => f.severity === 'error')
      .map(
        (f) =>
          `- ${f.file ?? r.file}:${f.line}:${f.column}: ${f.rule_id}: ${f.message}${f.suggestion ? ` (fix: ${f.suggestion})` : ''}`,
      );
    return [
      ...head,
      `Your last blueprint:\n\`\`\`yaml\n${last.yaml ?? ''}\`\`\``,
      `The validator found these errors:\n${problems.join('\n')}`,
      'Answer with the whole corrected blueprint.',
    ].join('\n\n');
  }
  return [...head, 'Write the blueprint.'].join('\n\n');
}

const requestOf = (ctx: unknown) => (ctx as { architect: ArchitectRequest }).architect;

/** The answer to the plan approval pause. */
export const ApprovalSchema = z.object({ approved: z.boolean() });

/** What the run ends with when the person rejects the plan. */
export interface Rejected {
  readonly rejected: true;
  readonly plan: ArchitectPlan | null;
}

/**
 * The agentic Architect: plan, then write and validate up to MAX_ROUNDS times. With
 * `approve_plan`, a `hitl` step after the plan asks `{approved: boolean}`; a rejected plan ends
 * the run with a Rejected output and no draft.
 */
export function architectPipeline(request: ArchitectRequest, deps: ArchitectDeps) {
  const model = request.model;
  const planStep = agentStep<ArchitectPlan>('plan', model, {
    output: PlanSchema,
    config: { system: PLANNER_SYSTEM },
    input: (_prev, ctx) => plannerPrompt(requestOf(ctx)),
    sinkTo: 'plan',
  });
  const drafting = loop(
    'draft',
    sequence(
      agentStep<string>('write_yaml', model, {
        config: { system: WRITER_SYSTEM },
        input: (prev, ctx) => writerPrompt(prev, requestOf(ctx), (ctx as { plan?: unknown }).plan),
      }),
      step('validate', (reply: unknown) => draft(reply, request, deps)),
    ),
    {
      maxLoops: MAX_ROUNDS,
      // Ends on a valid draft; the last round's draft, valid or not, is the loop's output.
      exit: (d: Draft, _ctx, round) => d.valid || round >= MAX_ROUNDS,
    },
  );
  const result = step('result', (r: ArchitectResult) => r, {
    input: (prev, ctx) => ({
      ...(prev as Draft),
      plan: ((ctx as { plan?: ArchitectPlan }).plan ?? null) as ArchitectPlan | null,
    }),
  });
  if (!request.approve_plan)
    return definePipeline('flujo.architect', sequence(planStep, drafting, result));
  return definePipeline(
    'flujo.architect',
    sequence(
      planStep,
      hitl('approve_plan', { message: 'Use this plan?', schema: ApprovalSchema }),
      conditional<{ approved: boolean }, ArchitectResult | Rejected>(
        'approved',
        (a) => a.approved,
        {
          true: sequence(drafting, result),
          // Its input is mapped from the context; the answer it is handed is not read.
          false: step('rejected', (r: Rejected) => r, {
            input: (_prev, ctx) => ({
              rejected: true as const,
              plan: ((ctx as { plan?: ArchitectPlan }).plan ?? null) as ArchitectPlan | null,
            }),
          }) as unknown as Flow<{ approved: boolean }, Rejected>,
        },
      ),
    ),
  );
}

const LITERAL_ESCAPES: Readonly<Record<string, string>> = {
  '\\': '\\\\',
  '"': '\\"',
  '\n': '\\n',
  '\t': '\\t',
  '\r': '\\r',
};

/**
 * `text` as a system prompt that says it literally. Text with no template tag is not rendered, so
 * it is kept as it is (`{%` and `\{{` included). Text with one (`{{ "a": 1 }}`, or
 * `{{ context.secret }}`, which would read the run's context) becomes one string literal in a
 * tag: a value is printed once, never expanded, and with `{` and `}` written `\u007b` and
 * `\u007d` the literal holds no `{{`, `}}` or `{%` of its own.
 */
export function literalPrompt(text: string): string {
  if (!hasTemplate(text)) return text;
  const escaped = [...text]
    .map((c) => {
      const code = c.codePointAt(0) ?? 0;
      const plain = code >= 0x20 && code !== 0x7f && !'\\"{}'.includes(c);
      return plain ? c : (LITERAL_ESCAPES[c] ?? `\\u${code.toString(16).padStart(4, '0')}`);
    })
    .join('');
  return `{{ "${escaped}" }}`;
}

/** The blueprint `--no-agentic` emits: one agent step whose prompt carries the goal literally. */
export function minimalYaml(request: ArchitectRequest): string {
  const doc = parseDocument('version: "0.1"\n');
  doc.set('name', request.name ?? slugOf(request.goal));
  doc.set('agents', {
    worker: {
      model: request.model,
      system_prompt: literalPrompt(`You carry out this goal: ${request.goal}`),
    },
  });
  doc.set('steps', [
    {
      kind: 'step',
      name: 'main',
      uses: 'agents.worker',
      input: '{{ context.initial_prompt }}',
    },
  ]);
  return `# Generated by flujo create --no-agentic. Goal: ${request.goal.replace(/\s+/g, ' ')}\n${doc.toString()}`;
}

/** The minimal Architect: no model; emit, validate, result. */
export function minimalPipeline(request: ArchitectRequest, deps: ArchitectDeps) {
  return definePipeline(
    'flujo.architect.minimal',
    sequence(
      step('emit', () => minimalYaml(request)),
      step('validate', (text: string) => draft(text, request, deps)),
      step('result', (d: Draft): ArchitectResult => ({ ...d, plan: null })),
    ),
  );
}

/**
 * The plan a create run ran, rebuilt from what it recorded (its pipeline name and its input, the
 * request), for `flujo lens replay`: the plan's decisions read only the run's values, and a
 * replay never calls the steps' functions, so `deps` is not consulted.
 */
export function recordedArchitectPlan(pipelineName: string, input: unknown, deps: ArchitectDeps) {
  const request = input as ArchitectRequest;
  return pipelineName === 'flujo.architect.minimal'
    ? minimalPipeline(request, deps).plan
    : architectPipeline(request, deps).plan;
}
