/**
 * V-A5: a step's output that nothing uses. In a list of steps, step B's explicit `input` does not
 * read the previous output (previous_step / output / this / resume_input), step A before it
 * neither merges its output into the context (updates_context, sink_to, a context-merge skill)
 * nor is read elsewhere as `steps.A`. The last check needs the whole file, so candidates wait in
 * the Env until the file is read (`reportUnusedOutputs`).
 */
import type { Env } from './env.js';
import { entry, plain, type Pos, type YNode } from './yamlTree.js';

export interface UnusedCandidate {
  readonly producer: string;
  readonly consumer: string;
  readonly at: Pos;
}

const READS_PREVIOUS = /\b(previous_step|output|this|resume_input)\b/;

function merges(env: Env, a: YNode): boolean {
  if (
    plain(entry(a, 'updates_context')?.value ?? { t: 'scalar', value: false, pos: a.pos }) === true
  )
    return true;
  if (entry(a, 'sink_to')) return true;
  const agent = entry(a, 'agent')?.value;
  const id = agent?.t === 'map' ? plain(entry(agent, 'id')?.value ?? agent) : undefined;
  return typeof id === 'string' && env.shared.opts.skills?.context?.(id) === 'merge';
}

/** Notes each adjacent pair of a steps list where B ignores A's output and A does not merge it. */
export function noteUnusedOutputs(env: Env, items: readonly YNode[]): void {
  for (let i = 0; i + 1 < items.length; i++) {
    const a = items[i] as YNode;
    const b = items[i + 1] as YNode;
    if (a.t !== 'map' || b.t !== 'map') continue;
    const input = entry(b, 'input');
    if (!input || READS_PREVIOUS.test(JSON.stringify(plain(input.value)))) continue;
    if (merges(env, a)) continue;
    const producer = plain(entry(a, 'name')?.value ?? entry(a, 'step')?.value ?? a);
    const consumer = plain(entry(b, 'name')?.value ?? entry(b, 'step')?.value ?? b);
    if (typeof producer !== 'string' || typeof consumer !== 'string') continue;
    env.unused.push({ producer, consumer, at: input.value.pos });
  }
}

/** Reports the noted pairs whose producer no template or expression reads as `steps.<name>`. */
export function reportUnusedOutputs(env: Env): void {
  for (const c of env.unused) {
    if (env.shared.referenced.has(c.producer)) continue;
    const kept = env.shared.kept;
    if (kept && (kept.all || kept.names.has(c.producer))) continue;
    env.report(
      'V-A5',
      `the output of '${c.producer}' is not used: '${c.consumer}' does not read previous_step, and '${c.producer}' neither updates the context nor is read as steps.${c.producer}`,
      c.at,
      {
        step: c.consumer,
        suggestion: `read {{ previous_step }} in '${c.consumer}', add updates_context or sink_to to '${c.producer}', or add '# flujo: ignore V-A5'`,
      },
    );
  }
  env.unused.length = 0;
}
