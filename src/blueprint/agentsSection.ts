/**
 * A blueprint's top-level `agents:` section: each declared agent's model, settings, retries,
 * timeout and system prompt (inline, templated, or `from_file`), for steps that `uses:` it.
 * Split out of loader.ts, which compiles the file around it.
 */
import { posix } from 'node:path';

import type { CodeRef, TemplateValue } from '../dsl/ir.js';
import { schemaProblem } from '../dsl/jsonSchema.js';
import type { Env } from './env.js';
import { wholeFile } from './envTemplates.js';
import { AGENT_KEYS } from './keys.js';
import { insideRoot, outsideWords } from './projectRoot.js';
import { place, placeScalar } from './sourceMap.js';
import { hasTemplate } from './template.js';
import { entry, plain, YamlLoadError, type YNode } from './yamlTree.js';

export function agentsSection(env: Env, node: YNode | undefined): void {
  if (!node) return;
  if (node.t !== 'map') {
    env.report('V-K4', `'agents' must map agent names to specs`, node.pos);
    return;
  }
  for (const e of node.entries) {
    const a = e.value;
    const what = `agent '${e.key}'`;
    env.checkKeys(a, AGENT_KEYS, what, null);
    const model = env.str(entry(a, 'model')?.value, `${what}: model`, null);
    if (!model) {
      env.report('V-K4', `${what} needs 'model' (e.g. openai:gpt-4o)`, e.keyPos);
      const given = entry(a, 'model') !== undefined;
      env.invalidAgents.set(e.key, {
        why: given ? `its 'model' is not a model id` : `it has no 'model'`,
        line: e.keyPos.line,
      });
      continue;
    }
    const config: Record<string, unknown> = {};
    const sp = entry(a, 'system_prompt')?.value;
    const system = sp ? systemPrompt(env, sp, what) : undefined;
    if (typeof system === 'string') config.system = system;
    const os = entry(a, 'output_schema')?.value;
    if (os) {
      config.outputSchema = plain(os);
      const problem = schemaProblem(config.outputSchema as Record<string, unknown>);
      if (problem)
        env.report('V-K4', `${what}: output_schema is not a valid JSON Schema: ${problem}`, os.pos);
    }
    const ms = entry(a, 'model_settings')?.value;
    if (ms) config.settings = plain(ms);
    const timeout = env.num(entry(a, 'timeout')?.value, `${what}: timeout`, null, 'V-A7');
    const retries = env.count(
      entry(a, 'max_retries')?.value,
      `${what}: max_retries`,
      null,
      0,
      'V-A7',
    );
    env.agents.set(e.key, {
      name: e.key,
      model,
      config,
      // Floored, as before counts were checked (5db5502): a run recorded with 1.5 retried once.
      retries: retries === undefined ? 3 : Math.floor(retries),
      ...(system !== undefined && typeof system !== 'string' ? { system } : {}),
      ...(timeout !== undefined ? { timeoutMs: Math.round(timeout * 1000) } : {}),
    });
  }
}

/**
 * A string, or `{from_file, variables}` read through the port. A prompt without templates (after
 * substituting static variables) stays a string in `config.system`; one that reads the run
 * (`{{ context.x }}`, or a variable whose value is a template) becomes a template the step renders
 * per call (StepNode.system), with the variables bound as names.
 */
function systemPrompt(env: Env, node: YNode, what: string): string | CodeRef | undefined {
  const top = { inLoop: false, inMap: false, condInLoop: false, yamlPath: 'agents' };
  if (node.t !== 'map') {
    const text = env.str(node, `${what}: system_prompt`, null);
    if (text === undefined || !hasTemplate(text)) return text;
    env.checkTemplate(text, node.pos, null, top, node.t === 'scalar' && node.quoted ? 1 : 0);
    return placeScalar({ template: text }, env.file, null, node, roleOf(what));
  }
  env.checkKeys(node, ['from_file', 'variables'], `${what}: system_prompt`, null);
  const rel = env.str(entry(node, 'from_file')?.value, `${what}: from_file`, null);
  if (!rel) return undefined;
  const abs = posix.resolve(env.dir, rel);
  const at = entry(node, 'from_file')!.value.pos;
  if (!insideRoot(env.shared.opts, abs)) {
    env.report('V-A6', `${what}: ${rel} is ${outsideWords(env.shared.opts)}`, at, {
      resolution: true,
    });
    return undefined;
  }
  let text: string;
  try {
    text = env.shared.opts.files.read(abs);
  } catch (e) {
    if (e instanceof YamlLoadError) {
      env.report('V-A6', `${what}: prompt file ${rel}:${e.line}:${e.column}: ${e.message}`, at);
      return undefined;
    }
    env.report('V-A6', `${what}: cannot read prompt file ${rel}`, at, {
      suggestion: 'paths are relative to the blueprint file',
      resolution: true,
    });
    return undefined;
  }
  const varsNode = entry(node, 'variables')?.value;
  const values = (varsNode ? plain(varsNode) : {}) as Record<string, TemplateValue>;
  const dynamic = varsNode?.t === 'map' && varsNode.entries.some((e) => hasTemplateValue(e.value));
  const staticText = text.replace(/\{\{\s*([A-Za-z_]\w*)\s*\}\}/g, (m, k: string) =>
    Object.hasOwn(values, k) ? String(values[k]) : m,
  );
  if (!dynamic && !hasTemplate(staticText)) return staticText;
  if (varsNode?.t === 'map') {
    for (const e of varsNode.entries) env.template(e.value, null, top);
  }
  // Its syntax errors are placed in the prompt file, line for line, as a run's failure is.
  env.checkTemplate(text, wholeFile(abs, at), null, top, 0, Object.keys(values));
  const ref = { template: text, vars: values };
  // Its text is the prompt file's, placed there line for line; with variables that read the run,
  // the failing text may be one of theirs, so the place is the system_prompt mapping (ADR 112).
  const file = {
    line: 1,
    column: 1,
    endLine: 1,
    locate: (l: number, c: number) => ({ line: l, column: c }),
  };
  const [where, texts] = dynamic ? [node.pos, []] : [file, [{ pos: file, shift: 0, text }]];
  return place(ref, {
    what: 'template',
    file: dynamic ? env.file : abs,
    step: null,
    at: where,
    texts,
    role: roleOf(what),
  });
}

/** `agent 'writer'` -> `agent writer's system prompt`. */
const roleOf = (what: string) => `${what.replace(/'/g, '')}'s system prompt`;

function hasTemplateValue(n: YNode): boolean {
  if (n.t === 'scalar') return typeof n.value === 'string' && hasTemplate(n.value);
  if (n.t === 'seq') return n.items.some(hasTemplateValue);
  return n.entries.some((e) => hasTemplateValue(e.value));
}
