/**
 * `flujo explain` and `flujo visualize` show a blueprint `kind: cache` as the cache and the step
 * it wraps, as written: the loader's lookup, hit and put nodes are the engine's (QA: explain said
 * `__once_lookup2: chooses a branch by a function` with empty branches, and `fetch` was gone).
 */
import { expect, it } from 'vitest';

import { explainPlan, visualizePlan } from '../../src/blueprint/describe.js';
import { loadBlueprint } from '../../src/blueprint/loader.js';

const text = `version: "0.1"
name: ca
steps:
  - name: first
    agent: { id: flujo.builtins.stringify }
  - kind: cache
    name: once
    wrapped_step: { name: fetch, agent: { id: flujo.builtins.stringify } }
  - name: last
    agent: { id: flujo.builtins.stringify }
`;

it('explain and visualize name the cache and its wrapped step, and no engine node', () => {
  const r = loadBlueprint('/p/ca.yaml', {
    root: '/p',
    files: { read: () => text, exists: () => true },
  });
  expect(r.errors).toEqual([]);
  const ir = r.plan!.ir;
  const explained = explainPlan(ir).split('\n');
  expect(explained.slice(0, 5)).toEqual([
    'Pipeline "ca":',
    '- first: calls skill flujo.builtins.stringify (up to 1 retry)',
    '- once: reuses a cached output for an input seen before, else:',
    '  - fetch: calls skill flujo.builtins.stringify (up to 1 retry)',
    '- last: calls skill flujo.builtins.stringify (up to 1 retry)',
  ]);
  expect(visualizePlan(ir, 'text').split('\n')).toEqual([
    '• first [step] skill flujo.builtins.stringify',
    '▸ once [cache]',
    '  • fetch [step] skill flujo.builtins.stringify',
    '• last [step] skill flujo.builtins.stringify',
  ]);
  const mermaid = visualizePlan(ir, 'mermaid');
  expect(mermaid).not.toContain('__');
  expect(mermaid).toContain('[("once (cache)")]');
  // first -> once -(miss)-> fetch -> last
  const edges = mermaid.split('\n').filter((l) => l.includes('-->'));
  expect(edges.sort()).toEqual(['  n0 --> n1', '  n1 -->|miss| n2', '  n2 --> n3']);
});
