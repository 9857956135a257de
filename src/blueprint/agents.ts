/**
 * What runs a basic step: a declared agent (`uses: agents.X` -> the model id with its prompt,
 * schema and settings), a registry skill (`agent: {id, params}` -> `skill:<id>`), the durable
 * `flujo.builtins.ask_user` (a hitl node), a project module (`./file.ts#export` or `{path,
 * export}` -> a plan function) or a model id (`agent: "openai:gpt-4o"`). Python import paths
 * (`pkg.mod:fn`) are refused with the TypeScript form to use instead.
 */
import { posix } from 'node:path';

import type { CodeRef } from '../dsl/ir.js';
import { schemaProblem } from '../dsl/jsonSchema.js';
import { thisOf, type Env, type Where } from './env.js';
import { allowFix } from './allowedImports.js';
import { moduleRefused, outsideWords, realRoot } from './projectRoot.js';
import { placeScalar } from './sourceMap.js';
import { nearest } from './findings.js';
import { PROVIDERS } from './keys.js';
import { hasTemplate } from './template.js';
import { entry, plain, type YNode } from './yamlTree.js';

export type Resolved =
  | {
      kind: 'model' | 'skill' | 'code';
      agent: string;
      config: Record<string, unknown>;
      retries?: number;
      timeoutMs?: number;
      fnName: string;
      system?: CodeRef;
    }
  | {
      kind: 'hitl';
      hitl: {
        message: string;
        render?: { template: string; thisPath?: string };
        inputSchema: Record<string, unknown>;
        answerSchema?: Record<string, unknown>;
        skillAnswerSchema?: Record<string, unknown>;
        record: string[];
      };
    };

const PY_REF = /^[A-Za-z_][\w]*(\.[A-Za-z_][\w]*)*:[A-Za-z_][\w]*$/;
export const ASK_USER = 'flujo.builtins.ask_user';

/** `pkg.mod:fn` -> `./pkg/mod.ts#fn`: what to write instead of a Python import path. */
export function tsFormOf(py: string): string {
  const [mod, fn] = py.split(':');
  return `./${(mod ?? '').split('.').join('/')}.ts#${fn ?? 'default'}`;
}

export function resolveAgent(
  env: Env,
  node: YNode,
  name: string,
  where: Where,
  key?: string,
): Resolved | 'none' | undefined {
  const uses = entry(node, key ?? 'uses');
  const agent = key ? undefined : entry(node, 'agent');
  if (uses && agent) {
    env.report('V-K4', `${name}: give either 'uses' or 'agent', not both`, agent.keyPos, {
      step: name,
    });
  }
  const target = uses ?? agent;
  if (!target) return 'none';
  const v = target.value;
  if (v.t === 'map') return fromMap(env, v, name, where, key ? undefined : node);
  const s = env.str(v, `${name}: ${target.key}`, name);
  if (s === undefined) return undefined;
  if (s.startsWith('agents.')) return declared(env, v, s.slice(7), name);
  if (s.includes('#') || /\.(m?[jt]s)$/.test(s)) return codeRef(env, v, s, name);
  const colon = s.indexOf(':');
  if (colon > 0 && (PROVIDERS as readonly string[]).includes(s.slice(0, colon))) {
    if (!env.modelId(s, v.pos, name, name)) return undefined;
    return { kind: 'model', agent: s, config: {}, fnName: '' };
  }
  if (PY_REF.test(s)) {
    env.report(
      'V-K7',
      `${name}: '${s}' is a Python import path; blueprints call TypeScript modules`,
      v.pos,
      {
        step: name,
        suggestion: `use '${tsFormOf(s)}' (a module path relative to this file, '#', the export name)`,
      },
    );
    return undefined;
  }
  env.report('V-A6', `${name}: cannot tell what '${s}' is`, v.pos, {
    step: name,
    suggestion: `use agents.<name>, imports.<alias>, ./module.ts#export, a model id like openai:gpt-4o, or agent: {id: <skill id>}`,
  });
  return undefined;
}

function declared(env: Env, v: YNode, agentName: string, name: string): Resolved | undefined {
  const spec = env.agents.get(agentName);
  const invalid = spec ? undefined : env.invalidAgents.get(agentName);
  if (invalid) {
    // Declared, but not usable: say why, not that it is missing.
    env.report(
      'V-A6',
      `${name}: agent '${agentName}' is declared but invalid: ${invalid.why} (agents section, line ${invalid.line})`,
      v.pos,
      {
        step: name,
        suggestion: `give agent '${agentName}' a model, e.g. model: "openai:gpt-4o-mini"`,
      },
    );
    return undefined;
  }
  if (!spec) {
    const near = nearest(agentName, env.agents.keys());
    env.report('V-A6', `${name}: no agent '${agentName}' in the agents section`, v.pos, {
      step: name,
      suggestion: near ? `use 'agents.${near}'` : `declare it under 'agents:'`,
    });
    return undefined;
  }
  if (!env.modelId(spec.model, v.pos, name, `${name}: agent '${agentName}'`)) return undefined;
  return {
    kind: 'model',
    agent: spec.model,
    config: spec.config,
    ...(spec.retries !== undefined ? { retries: spec.retries } : {}),
    ...(spec.timeoutMs !== undefined ? { timeoutMs: spec.timeoutMs } : {}),
    ...(spec.system ? { system: spec.system } : {}),
    fnName: '',
  };
}

function fromMap(
  env: Env,
  v: YNode,
  name: string,
  where: Where,
  step: YNode | undefined,
): Resolved | undefined {
  const id = entry(v, 'id');
  const path = entry(v, 'path');
  if (path) {
    env.checkKeys(v, ['path', 'export'], `${name}: agent`, name);
    const p = env.str(path.value, `${name}: agent.path`, name);
    const ex = env.str(entry(v, 'export')?.value, `${name}: agent.export`, name) ?? 'default';
    return p === undefined ? undefined : codeRef(env, path.value, `${p}#${ex}`, name);
  }
  env.checkKeys(v, ['id', 'params'], `${name}: agent`, name);
  const skill = id ? env.str(id.value, `${name}: agent.id`, name) : undefined;
  if (!id || skill === undefined) {
    if (!id)
      env.report('V-K4', `${name}: agent needs 'id' (a skill) or 'path' (a module)`, v.pos, {
        step: name,
      });
    return undefined;
  }
  const paramsNode = entry(v, 'params')?.value;
  const params = paramsNode ? plain(paramsNode) : {};
  if (paramsNode) env.template(paramsNode, name, where);
  const skills = env.shared.opts.skills;
  if (skill === ASK_USER || skills?.kind?.(skill) === 'hitl') {
    const messageFrom = (param: string) => {
      const q = (params as Record<string, unknown>)[param];
      const qNode = paramsNode?.t === 'map' ? entry(paramsNode, param)?.value : undefined;
      return {
        message: typeof q === 'string' ? q : '',
        // Without a question the step's input is the message (Flujo's ask_user prompt).
        ...(typeof q === 'string'
          ? hasTemplate(q)
            ? { render: placeScalar({ template: q, ...thisOf(q, where) }, env.file, name, qNode) }
            : {}
          : { render: { template: '{{ previous_step }}' } }),
      };
    };
    // Runs recorded before ADR 111 ask with `params.question` whatever the skill names.
    const asked = messageFrom('question');
    const param = skills?.hitl?.(skill)?.messageParam;
    // A step that writes only `question:` (all a skill naming another param took before ADR
    // 111) keeps asking with it: the named param is used when the step gives it.
    const named =
      param &&
      param !== 'question' &&
      typeof params === 'object' &&
      params !== null &&
      Object.hasOwn(params, param)
        ? messageFrom(param)
        : undefined;
    return {
      kind: 'hitl',
      hitl: {
        ...asked,
        // The param the skill names, for a run recorded with `hitl-skill-message-param`.
        ...(named && JSON.stringify(named) !== JSON.stringify(asked)
          ? { skillMessage: named }
          : {}),
        inputSchema: {},
        // The step's own schema wins; without one, the skill's declared answer schema (ADR 95).
        ...(declaresSchema(step)
          ? answerSchemaOf(env, step, name)
          : skillAnswerSchemaOf(env, skill, id.value, name)),
        record: ['resume_input'],
      },
    };
  }
  if (skills && !skills.has(skill)) {
    const near = skills.ids ? nearest(skill, skills.ids()) : null;
    env.report('V-A6', `${name}: unknown skill id '${skill}'`, id.value.pos, {
      step: name,
      suggestion: near ? `use '${near}'` : `register it in the skill registry`,
    });
    return undefined;
  }
  return { kind: 'skill', agent: `skill:${skill}`, config: { params }, fnName: '' };
}

/**
 * An ask_user step's declared answer schema: its `input_schema` (a hitl step's key) or its
 * `output_schema` (the answer is the step's output), one of them. The node keeps `inputSchema: {}`
 * beside it, what a run recorded before ADR 90 asks with; a newer run asks with this one.
 */
function answerSchemaOf(
  env: Env,
  step: YNode | undefined,
  name: string,
): { answerSchema?: Record<string, unknown> } {
  const input = step ? entry(step, 'input_schema') : undefined;
  const output = step ? entry(step, 'output_schema') : undefined;
  if (input && output) {
    env.report(
      'V-K4',
      `${name}: ask_user checks its answer against one schema; give input_schema or output_schema, not both`,
      output.keyPos,
      {
        step: name,
        suggestion: `keep input_schema (the answer's JSON Schema) and remove output_schema`,
      },
    );
    return {};
  }
  const declared = input ?? output;
  if (!declared) return {};
  const schema = plain(declared.value);
  // Checked now: an invalid schema would take the run to a pause no answer can pass.
  const problem =
    schema !== null && typeof schema === 'object' && !Array.isArray(schema)
      ? schemaProblem(schema as Record<string, unknown>)
      : 'it is not a mapping';
  if (problem) {
    env.report(
      'V-K4',
      `${name}: ${declared.key} is not a valid JSON Schema: ${problem}`,
      declared.value.pos,
      { step: name },
    );
    return {};
  }
  return { answerSchema: schema as Record<string, unknown> };
}

const declaresSchema = (step: YNode | undefined) =>
  !!step && !!(entry(step, 'input_schema') ?? entry(step, 'output_schema'));

/**
 * A hitl skill's declared `hitl.inputSchema`, for a step that declares no schema of its own. `{}`
 * (ask_user's: any answer) leaves the node as it was. A run recorded with the engine flag
 * `hitl-skill-answer-schema` asks with it; one recorded before asks with `inputSchema: {}`.
 */
function skillAnswerSchemaOf(
  env: Env,
  skill: string,
  at: YNode,
  name: string,
): { skillAnswerSchema?: Record<string, unknown> } {
  const declared = env.shared.opts.skills?.hitl?.(skill)?.inputSchema;
  if (!declared || Object.keys(declared).length === 0) return {};
  const schema = JSON.parse(JSON.stringify(declared)) as Record<string, unknown>;
  // Checked now: an invalid schema would take the run to a pause no answer can pass.
  const problem = schemaProblem(schema);
  if (problem) {
    env.report(
      'V-K4',
      `${name}: skill '${skill}' declares a hitl.inputSchema that is not a valid JSON Schema: ${problem}`,
      at.pos,
      { step: name, suggestion: `fix the skill's registration, or give the step an input_schema` },
    );
    return {};
  }
  return { skillAnswerSchema: schema };
}

/**
 * A project module reference, resolved against this file and kept inside the project root, or
 * where flujo.toml's `blueprint_allowed_imports` allows (ADR 152).
 */
function codeRef(env: Env, v: YNode, ref: string, name: string): Resolved | undefined {
  const [rel, exportName = 'default'] = ref.split('#');
  const abs = posix.resolve(env.dir, rel ?? '');
  const opts = env.shared.opts;
  const root = opts.root;
  const refused = moduleRefused(opts, env.shared.allow, abs);
  if (refused) {
    const fix = allowFix(opts.allowedImports ?? [], realRoot(opts), refused.real, opts.configFile);
    const link = refused.real !== abs ? `its real path is ${refused.real}; ` : '';
    env.report('V-A6', `${name}: module '${rel}' is ${outsideWords(opts)}`, v.pos, {
      step: name,
      suggestion: `${link}${fix}`,
      resolution: true,
    });
    return undefined;
  }
  const files = env.shared.opts.files;
  if (files.exists && !files.exists(abs)) {
    env.report('V-A6', `${name}: module '${rel}' does not exist (looked for ${abs})`, v.pos, {
      step: name,
      suggestion: `check the path (modules are relative to the blueprint file that names them)`,
      resolution: true,
    });
    return undefined;
  }
  const fnName = `code:${posix.relative(root, abs)}#${exportName}`;
  if (!env.shared.modules.has(fnName)) {
    env.shared.modules.set(fnName, {
      name: fnName,
      absPath: abs,
      exportName,
      file: env.file,
      line: v.pos.line,
      column: v.pos.column,
    });
  }
  return { kind: 'code', agent: `fn:${fnName}`, config: {}, fnName };
}
