/**
 * V-K1's "allowed" list for a step's `config:` names each key once: an import step's listed the
 * six keys a basic step takes twice (`max_retries, …, top_p, max_retries, …`). An import step's
 * lists none of the step keys it does not act on (ADR 140), as a basic step's does not.
 */
import { expect, it } from 'vitest';

import { loadBlueprint } from '../../src/blueprint/loader.js';

const files: Record<string, string> = {
  '/p/t.yaml': `version: "0.1"
name: t
imports: { kid: ./kid.yaml }
steps:
  - { name: i, uses: imports.kid, config: { bogus: 1 } }
  - { name: s, agent: { id: flujo.builtins.stringify }, config: { bogus: 1 } }
`,
  '/p/kid.yaml': `version: "0.1"
name: kid
steps: [{ name: k, agent: { id: flujo.builtins.stringify } }]
`,
};

const allowed = (step: string) => {
  const r = loadBlueprint('/p/t.yaml', {
    root: '/p',
    files: { read: (p) => files[p] ?? '', exists: (p) => p in files },
  });
  const f = r.errors.find((e) => e.rule_id === 'V-K1' && e.step_name === step);
  const m = /^remove 'bogus'; allowed: (.*)$/.exec(f?.suggestion ?? '');
  expect(m, JSON.stringify(f)).not.toBeNull();
  return m![1]!.split(', ');
};

// Not the step keys it takes and does not act on, retries and timeouts included (V-K5, ADR 140).
it("an import step's config lists each allowed key once, the sampling keys first", () => {
  expect(allowed('i')).toEqual([
    'temperature',
    'top_k',
    'top_p',
    'input_to',
    'input_scratchpad_key',
    'outputs',
    'inherit_context',
    'inherit_conversation',
    'propagate_hitl',
    'on_failure',
  ]);
});

it("a basic step's config lists the keys it takes, once each", () => {
  expect(allowed('s')).toEqual([
    'max_retries',
    'timeout_s',
    'timeout',
    'temperature',
    'top_k',
    'top_p',
  ]);
});
