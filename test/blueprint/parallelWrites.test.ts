/**
 * V-P1 fires only where two branches of a parallel can write the same context path, as its merge
 * sees it: under `context_update`, equal paths or one a prefix of the other (`res.v` and `res.w`
 * merge into `{v, w}`); under `error_on_conflict`, the same top-level key, which fails the merge
 * whatever the values.
 */
import { describe, expect, it } from 'vitest';

import { withBlueprintCode } from '../../src/adapters/fs/blueprintFiles.js';
import { loadBlueprint } from '../../src/blueprint/loader.js';
import type { AgentPort } from '../../src/ports.js';
import { harness, scriptedAgents } from '../support/given.js';
import { skillScript } from './support.js';

const loadText = (text: string) =>
  loadBlueprint('/p/t.yaml', { root: '/p', files: { read: () => text, exists: () => true } });

const fan = (merge: string, left: string, right: string) => `version: "0.1"
name: t
steps:
  - kind: parallel
    name: fan
    merge_strategy: ${merge}
    branches:
      x: [{ name: px, agent: { id: flujo.builtins.stringify }, input: "1", sink_to: ${left} }]
      y: [{ name: py, agent: { id: flujo.builtins.stringify }, input: "2", sink_to: ${right} }]
  - name: out
    agent: { id: flujo.builtins.passthrough }
    input: "{{ context.res }}"
`;

async function run(text: string) {
  const result = loadText(text);
  if (!result.plan) throw new Error(JSON.stringify(result.errors));
  const plan = await withBlueprintCode(result);
  const agents = scriptedAgents(skillScript);
  const { engine } = harness({ agents: agents.port as AgentPort });
  return engine.run(plan, 'go');
}

const p1 = (text: string) =>
  loadText(text)
    .findings.filter((f) => f.rule_id === 'V-P1')
    .map((f) => [f.line, f.column, f.message]);

describe('V-P1 under context_update', () => {
  it('not for res.v and res.w: the merge keeps both', async () => {
    const text = fan('context_update', 'res.v', 'res.w');
    expect(p1(text)).toEqual([]);
    const r = await run(text);
    expect(r.status).toBe('completed');
    expect(r.output).toEqual({ v: '1', w: '2' });
  });

  it.each([
    ['res.v', 'res.v'],
    ['res', 'res.v'],
    ['context.res.v', 'res'],
  ])('for %s and %s: the merge fails when they write different values', async (left, right) => {
    const text = fan('context_update', left, right);
    expect(p1(text)).toEqual([
      [
        9,
        expect.any(Number),
        expect.stringMatching(
          /^parallel 'fan': branches 'x' and 'y' both write context\.res(\.v)?; with merge_strategy context_update the run fails if they write different values there$/,
        ),
      ],
    ]);
    expect((await run(text)).status).toBe('failed');
  });
});

describe('V-P1 under error_on_conflict', () => {
  it('for res.v and res.w: both change context.res, and the merge fails whatever the values', async () => {
    const text = fan('error_on_conflict', 'res.v', 'res.w');
    expect(p1(text)).toEqual([
      [
        9,
        expect.any(Number),
        "parallel 'fan': branches 'x' and 'y' both change context.res; with merge_strategy error_on_conflict the run fails when two branches change the same key",
      ],
    ]);
    expect((await run(text)).status).toBe('failed');
  });

  it('not for res and other', () => {
    expect(p1(fan('error_on_conflict', 'res', 'other'))).toEqual([]);
  });
});
