/**
 * An import step's `config:` takes the keys a basic step takes (Flujo's StepConfig) besides its
 * own import options, and acts on none of them: not `max_retries` nor the timeouts (the child's
 * steps retry and time out by their own config), nor `preserve_fallback_diagnostics`,
 * `execution_mode`, `expected_cost_usd`, `expected_tokens`. They were accepted silently, where a
 * basic step warns for the keys it does not act on. Each is a V-K5 warning now (ADR 140): the
 * plan is what it was, so a recorded run's pipeline loads as before.
 */
import { posix } from 'node:path';

import { beforeAll, describe, expect, it } from 'vitest';

import { withBlueprintCode } from '../../src/adapters/fs/blueprintFiles.js';
import { loadBlueprint } from '../../src/blueprint/loader.js';
import { planFingerprint } from '../../src/dsl/fingerprint.js';
import { initFastHash } from '../../src/events/chain.js';
import type { AgentPort } from '../../src/ports.js';
import { harness, scriptedAgents } from '../support/given.js';
import { skillScript } from './support.js';

const CHILD = `version: "0.1"
name: kid
steps:
  - name: k
    agent: { id: flujo.builtins.stringify }
    config: { max_retries: 0 }
`;

const load = (main: string, recordedRun = false) => {
  const files: Record<string, string> = { '/p/main.yaml': main, '/p/kid.yaml': CHILD };
  return loadBlueprint('/p/main.yaml', {
    root: '/p',
    files: {
      read: (f) => {
        const text = files[posix.normalize(f)];
        if (text === undefined) throw new Error(`ENOENT: ${f}`);
        return text;
      },
      exists: (f) => posix.normalize(f) in files,
    },
    ...(recordedRun ? { recordedRun } : {}),
  });
};

const said = (
  fs: readonly {
    rule_id: string;
    line: number;
    column: number;
    severity: string;
    message: string;
  }[],
) => fs.map((f) => `${f.rule_id} ${f.line}:${f.column} ${f.severity} ${f.message}`);

const KEYS = `      max_retries: 3
      timeout_s: 5
      timeout: 5
      preserve_fallback_diagnostics: true
      execution_mode: background
      expected_cost_usd: 0.5
      expected_tokens: 100
`;

const MAIN = `version: "0.1"
name: imp
imports: { kid: ./kid.yaml }
steps:
  - name: i
    uses: imports.kid
    config:
      input_to: both
${KEYS}`;

const NOT_ACTED = "i: config: '%s' is accepted but not acted on by this engine";
const at = (line: number, key: string, why = '') =>
  `V-K5 ${line}:7 warning ${NOT_ACTED.replace('%s', key)}${why}`;
const NO_RETRY = ": an import step does not retry its child; set max_retries on the child's steps";
const NO_TIMEOUT =
  ": an import step does not time its child out; set timeout_s on the child's steps";

const FINDINGS = [
  at(9, 'max_retries', NO_RETRY),
  at(10, 'timeout_s', NO_TIMEOUT),
  at(11, 'timeout', NO_TIMEOUT),
  at(12, 'preserve_fallback_diagnostics'),
  at(13, 'execution_mode'),
  at(14, 'expected_cost_usd'),
  at(15, 'expected_tokens'),
];

describe("an import step's config keys it does not act on", () => {
  beforeAll(initFastHash);

  it('are each a V-K5 warning at the key (were accepted silently)', () => {
    const r = load(MAIN);
    expect(said(r.findings)).toEqual(FINDINGS);
    expect(r.errors).toEqual([]);
    expect(r.exitCode).toBe(0);
  });

  it('leave the plan as without them, for a new run and a recorded one alike', () => {
    const without = planFingerprint(load(MAIN.replace(KEYS, '')).plan!);
    expect(planFingerprint(load(MAIN).plan!)).toBe(without);
    const recorded = load(MAIN, true);
    expect(said(recorded.findings)).toEqual(FINDINGS);
    expect(planFingerprint(recorded.plan!)).toBe(without);
  });

  it('max_retries is not acted on: a child step that fails is called once, as the warning says', async () => {
    const plan = await withBlueprintCode(load(MAIN));
    const agents = scriptedAgents({
      ...skillScript,
      'skill:flujo.builtins.stringify': () => {
        throw new Error('flaky'); // retryable
      },
    });
    const { engine } = harness({ agents: agents.port as AgentPort });
    expect(await engine.run(plan, 'x')).toMatchObject({ status: 'failed' });
    expect(agents.calls).toHaveLength(1);
  });

  it("its own keys and a basic step's max_retries stay quiet", () => {
    const r = load(`version: "0.1"
name: imp
imports: { kid: ./kid.yaml }
steps:
  - name: i
    uses: imports.kid
    config: { input_to: import_artifacts, input_scratchpad_key: k, on_failure: skip, propagate_hitl: false, inherit_context: false, outputs: [] }
  - name: s
    agent: { id: flujo.builtins.stringify }
    config: { max_retries: 2, timeout_s: 5 }
`);
    expect(r.findings).toEqual([]);
  });
});
