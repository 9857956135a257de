/**
 * Skills as an AgentPort. A step whose agent is `skill:<id>` is a recorded call like any model
 * call: the driver appends AgentCallRequested before `call` runs and the reply becomes an
 * AgentResponded fact, so a skill with side effects runs at most once per attempt key and replay
 * never runs it (docs/adr/0018). Inputs, params and outputs are checked against the skill's
 * schemas at this boundary; a mismatch is a non-retryable SKILL_*_INVALID error naming the
 * skill, the step path and every failing field.
 */
import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js';
import { AJV_OPTIONS } from '../dsl/jsonSchema.js';

import { EngineError, ErrorCode, ExitCode } from '../errors.js';
import type { AgentPort, AgentReply, AgentRequest } from '../ports.js';
import { bindArgs, isObj, type Obj } from './bind.js';
import type { JsonSchema, Skill, SkillRegistry } from './types.js';

export const SKILL_PREFIX = 'skill:';

/** An AgentPort that says which agent ids it serves; composeAgents routes by it. */
export interface RoutedAgentPort extends AgentPort {
  handles?(agent: string): boolean;
}

const invalid = (code: ErrorCode, message: string, details: Obj) =>
  new EngineError(code, message, { retryable: false, details });

/** A hitl skill reached as an agent (at a step's call, or by a check before the run). */
export const notCallable = (id: string, path: string, exitCode?: ExitCode) =>
  new EngineError(
    ErrorCode.SKILL_NOT_CALLABLE,
    `step ${path} calls skill ${id}, which is kind: hitl (a person answers it) and never called as an agent; in a blueprint write 'agent: { id: ${id} }', in the DSL hitl(name, { message, schema }) with the schema the skill declares`,
    { retryable: false, details: { skill: id, path }, ...(exitCode ? { exitCode } : {}) },
  );

export function createSkillAgents(registry: SkillRegistry): RoutedAgentPort {
  const ajv = new Ajv2020(AJV_OPTIONS);
  const compiled = new WeakMap<JsonSchema, ValidateFunction>();
  const validator = (schema: JsonSchema) => {
    let v = compiled.get(schema);
    if (!v) compiled.set(schema, (v = ajv.compile(schema as object)));
    return v;
  };

  function check(
    skill: Skill,
    req: AgentRequest,
    what: 'input' | 'params' | 'output',
    schema: JsonSchema | undefined,
    value: unknown,
  ): void {
    if (!schema) return;
    const validate = validator(schema);
    if (validate(value)) return;
    const reasons = (validate.errors ?? []).map(
      (e) => `${e.instancePath || `(${what})`} ${e.message ?? 'is invalid'}`,
    );
    throw invalid(
      what === 'output' ? ErrorCode.SKILL_OUTPUT_INVALID : ErrorCode.SKILL_INPUT_INVALID,
      `${skill.id} at step ${req.path}: the ${what === 'input' && skill.args ? 'arguments do' : `${what} does`} not match its schema: ${reasons.join('; ')}`,
      { skill: skill.id, path: req.path, what, reasons },
    );
  }

  function resolve(req: AgentRequest): Skill {
    if (!req.agent.startsWith(SKILL_PREFIX))
      throw invalid(ErrorCode.USAGE, `${req.agent} is not a skill (skills are 'skill:<id>')`, {
        agent: req.agent,
      });
    const id = req.agent.slice(SKILL_PREFIX.length);
    const skill = registry.get(id);
    if (!skill)
      throw invalid(
        ErrorCode.SKILL_UNKNOWN,
        `step ${req.path} calls skill ${id}, which is not registered; declare it in skills.yaml next to the blueprint or use a flujo.builtins.* id`,
        { skill: id, path: req.path },
      );
    // A person answers a hitl skill: the blueprint loader compiles a step using one to a hitl
    // node. Reached as an agent (`agentStep(name, 'skill:<id>')`), its `run` is never called,
    // whatever it would do (ADR 111); ask_user's own `run` said so, a custom skill's did not.
    if (skill.kind === 'hitl') throw notCallable(skill.id, req.path);
    return skill;
  }

  return {
    handles: (agent) => agent.startsWith(SKILL_PREFIX),
    estimate: () => ({ costMicros: 0, tokens: 0 }),
    async call(req: AgentRequest, signal: AbortSignal): Promise<AgentReply> {
      const skill = resolve(req);
      const rawParams = isObj(req.config) ? req.config.params : undefined;
      if (rawParams !== undefined && !isObj(rawParams))
        throw invalid(
          ErrorCode.SKILL_INPUT_INVALID,
          `${skill.id} at step ${req.path}: params must be a mapping`,
          {
            skill: skill.id,
            path: req.path,
          },
        );
      const params: Obj = rawParams ?? {};
      // A copy: skill code must not be able to change the run's state through a shared object.
      let input = structuredClone(req.input);
      let context: Obj | undefined;
      if (skill.context === 'read') {
        if (!isObj(input) || !isObj(input.context) || !('input' in input))
          throw invalid(
            ErrorCode.SKILL_INPUT_INVALID,
            `${skill.id} at step ${req.path} reads the run context: its request input must be { input, context } (the loader builds it)`,
            { skill: skill.id, path: req.path },
          );
        context = input.context;
        input = input.input;
      }
      const ctx = {
        runId: req.runId,
        path: req.path,
        attempt: req.attempt,
        key: req.key,
        signal,
        ...(context ? { context } : {}),
      };
      let output: unknown;
      if (skill.args) {
        const args = bindArgs(skill.id, skill.args, input, params);
        check(skill, req, 'input', skill.inputSchema, args);
        output = await skill.run(args, params, ctx);
      } else {
        check(skill, req, 'input', skill.inputSchema, input);
        check(skill, req, 'params', skill.paramsSchema, params);
        output = await skill.run(input, params, ctx);
      }
      output ??= null;
      check(skill, req, 'output', skill.outputSchema, output);
      return { output, usage: { input: 0, output: 0 }, costMicros: 0, model: req.agent };
    },
  };
}

/**
 * One port over several: each call goes to the first port whose `handles(agent)` says yes, else
 * to the first port that declares no `handles` (the catch-all, e.g. the model port).
 *
 * @example createEngine({ ledger, agents: composeAgents(createSkillAgents(registry), models) })
 */
export function composeAgents(...ports: readonly RoutedAgentPort[]): RoutedAgentPort {
  const route = (agent: string): AgentPort => {
    const port = ports.find((p) => p.handles?.(agent)) ?? ports.find((p) => !p.handles);
    if (!port)
      throw new EngineError(ErrorCode.CONFIG_INVALID, `no agent port is configured for ${agent}`, {
        exitCode: ExitCode.config,
        retryable: false,
        details: { agent },
      });
    return port;
  };
  const catchAll = ports.some((p) => !p.handles);
  return {
    ...(catchAll ? {} : { handles: (agent: string) => ports.some((p) => p.handles?.(agent)) }),
    // A call no port serves fails when made; estimating it is not the place to refuse it.
    estimate: (req) => {
      const port = ports.find((p) => p.handles?.(req.agent)) ?? ports.find((p) => !p.handles);
      return port?.estimate?.(req) ?? { costMicros: 0, tokens: 0 };
    },
    // The hooks too: a model call's HTTP retries are recorded through them (ADR 0011).
    call: async (req, signal, hooks) => route(req.agent).call(req, signal, hooks),
  };
}
