/**
 * `flujo explain` and `flujo visualize` list a parallel's branches in the order they were
 * declared, as the engine now runs them (ADR 51), also when names look like integers.
 */
import { expect, it } from 'vitest';

import { explainPlan, visualizePlan } from '../../src/blueprint/describe.js';
import { loadBlueprint } from '../../src/blueprint/loader.js';

const text = `version: "0.1"
name: t
steps:
  - kind: parallel
    name: fan
    branches:
      b: [{ name: sb, agent: { id: flujo.builtins.stringify } }]
      "2": [{ name: s2, agent: { id: flujo.builtins.stringify } }]
      "1": [{ name: s1, agent: { id: flujo.builtins.stringify } }]
`;

it('explain and visualize keep the declared branch order', () => {
  const r = loadBlueprint('/p/t.yaml', {
    root: '/p',
    files: { read: () => text, exists: () => true },
  });
  expect(r.errors).toEqual([]);
  const ir = r.plan!.ir;
  const explained = explainPlan(ir);
  expect(explained).toContain('runs 3 branches at once (b, 2, 1)');
  const branchLines = explained.split('\n').filter((l) => l.includes('branch '));
  expect(branchLines.map((l) => l.trim())).toEqual(['branch b:', 'branch 2:', 'branch 1:']);
  const mermaid = visualizePlan(ir, 'mermaid');
  const edges = [...mermaid.matchAll(/-->\|([^|]+)\|/g)].map((m) => m[1]);
  expect(edges).toEqual(['b', '2', '1']);
});
