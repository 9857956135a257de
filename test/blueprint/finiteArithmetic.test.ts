/**
 * Arithmetic whose result is not a finite number (`1e308 * 10`, `1e400 - 1e400`) is an
 * EXPRESSION_ERROR where it is evaluated, in runs recorded with the engine flag
 * `non-finite-arithmetic-fails` (ADR 131): a run records finite numbers only. Before, a one-tag
 * template failed at the ledger (`[LEDGER_ENCODE]`), a longer text printed `Infinity`, and a
 * condition compared it (`1e308 * 10 > 1` was true). `%` follows Python's sign rule without
 * overflowing (`1e308 % 1.7e308` was NaN); `/`, `//` and `%` by zero fail as they did.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { compilePlan } from '../../src/actors/compile.js';
import { refold } from '../../src/actors/fold.js';
import { nodeBlueprintFiles, withBlueprintCode } from '../../src/adapters/fs/blueprintFiles.js';
import { evaluateExpression, parseExpression } from '../../src/blueprint/expr.js';
import { loadBlueprint } from '../../src/blueprint/loader.js';
import { placeOf } from '../../src/blueprint/sourceMap.js';
import { parseTemplate, renderTemplate } from '../../src/blueprint/template.js';
import { ExpressionError } from '../../src/blueprint/templateErrors.js';
import { CURRENT_ENGINE_FLAGS, ENGINE_FLAGS, withEngineFlags } from '../../src/dsl/engineFlags.js';
import { NondeterminismError } from '../../src/errors.js';
import { initFastHash } from '../../src/events/chain.js';
import { decodeRecord, type LedgerEvent } from '../../src/events/envelope.js';
import type { AgentPort } from '../../src/ports.js';
import { withoutFlag } from '../support/events.js';
import { harness, scriptedAgents } from '../support/given.js';
import { skillScript } from './support.js';

const FLAG = ENGINE_FLAGS.nonFiniteArithmeticFails;
const BEFORE = CURRENT_ENGINE_FLAGS.filter((f) => f !== FLAG);

const ev = (src: string): unknown => evaluateExpression(parseExpression(src), {});
function evalError(src: string): ExpressionError {
  try {
    ev(src);
  } catch (e) {
    if (e instanceof ExpressionError) return e;
    throw e;
  }
  throw new Error(`expected an expression error for ${src}`);
}

describe('arithmetic stays finite', () => {
  it.each([
    ['1e308 * 10', '1e+308 * 10 is Infinity', 7],
    ['1e308 + 1e308', '1e+308 + 1e+308 is Infinity', 7],
    ['-1e308 - 1e308', '-1e+308 - 1e+308 is -Infinity', 8],
    ['1e308 / 0.1', '1e+308 / 0.1 is Infinity', 7],
    ['1e308 // 0.1', '1e+308 // 0.1 is Infinity', 7],
    ['1e400 - 1e400', 'Infinity - Infinity is NaN', 7],
  ])('%s is an EXPRESSION_ERROR at its operator', (src, said, column) => {
    const e = evalError(src);
    expect(e.code).toBe('EXPRESSION_ERROR');
    expect(e.reason).toBe(`${said}, not a finite number: a run records finite numbers only`);
    expect(e.column).toBe(column);
  });

  it('% follows the sign of its right operand without overflowing', () => {
    expect(ev('1e308 % 1.7e308')).toBe(1e308); // was NaN: (1e308 + 1.7e308) overflowed
    expect(ev('-7 % 3')).toBe(2);
    expect(ev('7 % -3')).toBe(-2);
    expect(Object.is(ev('6 % -3'), 0)).toBe(true); // 0, as Python's int, not -0
    expect(ev('5.5 % 2')).toBe(1.5);
  });

  it('/, // and % by zero fail alike, as before', () => {
    for (const src of ['1 / 0', '1 // 0', '1 % 0', '1.5 % 0.0', '0 / 0'])
      expect(evalError(src).reason).toBe('division by zero');
  });

  it('round of a number too large to scale keeps it (was Infinity)', () => {
    expect(renderTemplate(parseTemplate('{{ 1e308 | round(2) }}'), {})).toBe('1e+308');
    expect(renderTemplate(parseTemplate('{{ -2.5 | round }}'), {})).toBe('-3');
  });

  it('a run recorded without the flag computes as it did', () => {
    withEngineFlags(BEFORE, () => {
      expect(ev('1e308 * 10')).toBe(Infinity);
      expect(ev('1e308 * 10 > 1')).toBe(true);
      expect(ev('1e308 % 1.7e308')).toBeNaN();
      expect(Object.is(ev('6 % -3'), -0)).toBe(true);
      expect(renderTemplate(parseTemplate('{{ 1e308 | round(2) }}'), {})).toBe('Infinity');
    });
  });
});

let dir: string;
beforeAll(async () => {
  await initFastHash();
  dir = mkdtempSync(join(tmpdir(), 'flujo-finite-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const STEP = (input: string) => `version: "0.1"
name: big
steps:
  - name: s
    agent: { id: flujo.builtins.passthrough }
    input: "${input}"
`;
const CONDITION = `version: "0.1"
name: cond
steps:
  - kind: conditional
    name: c
    condition_expression: "1e308 * 10 > 1"
    branches:
      true:
        - name: t
          agent: { id: flujo.builtins.stringify }
          input: big
      false:
        - name: f
          agent: { id: flujo.builtins.stringify }
          input: small
`;
const MACHINE = `version: "0.1"
name: sm
steps:
  - kind: StateMachine
    name: m
    start_state: a
    end_states: [z]
    states:
      a:
        - name: sa
          agent: { id: flujo.builtins.stringify }
          input: one
      b:
        - name: sb
          agent: { id: flujo.builtins.stringify }
          input: two
    transitions:
      - { from: a, on: success, to: b, when: "1e308 * 10 > 1" }
      - { from: a, on: success, to: z }
      - { from: b, on: success, to: z }
`;

let n = 0;
/** Runs `text`, with today's engine or (`flags`) one that records those flags. */
async function run(text: string, flags: readonly string[] = CURRENT_ENGINE_FLAGS) {
  const file = join(dir, `b${(n += 1)}.yaml`);
  writeFileSync(file, text);
  const loaded = loadBlueprint(file, { files: nodeBlueprintFiles, root: dir });
  expect(loaded.errors).toEqual([]);
  const plan = await withBlueprintCode(loaded);
  const today = [...CURRENT_ENGINE_FLAGS];
  const current = CURRENT_ENGINE_FLAGS as string[];
  current.splice(0, current.length, ...flags);
  try {
    const { engine, ledger } = harness({ agents: scriptedAgents(skillScript).port as AgentPort });
    const r = await engine.run(plan, 'x');
    const events = (await ledger.read(r.runId)).map((e) => decodeRecord(r.runId, e.seq, e.body));
    current.splice(0, current.length, ...today);
    // Replayed by today's engine, which reads the flags the run recorded.
    expect(await engine.replay(plan, r.runId)).toMatchObject({ identical: true });
    return { run: r, plan, events };
  } finally {
    current.splice(0, current.length, ...today);
  }
}

const diverges = (plan: Parameters<typeof compilePlan>[0], events: LedgerEvent[]) => {
  try {
    refold(compilePlan(plan), withoutFlag(events, FLAG));
  } catch (e) {
    return e instanceof NondeterminismError;
  }
  return false;
};

describe('a run meeting arithmetic that is not finite', () => {
  it('fails at the template with EXPRESSION_ERROR, placed, in a longer text too', async () => {
    for (const input of ['{{ 1e308 * 10 }}', 'x {{ 1e308 * 10 }}']) {
      const { run: r, plan, events } = await run(STEP(input));
      expect(r.status).toBe('failed');
      expect(r.error).toMatchObject({
        code: 'PLAN_CODE_FAILED',
        message: `pipeline code threw: s.input: [EXPRESSION_ERROR] 1e+308 * 10 is Infinity, not a finite number: a run records finite numbers only (at line 1, column ${input.indexOf('*') + 1})`,
      });
      // At the operator, in the file (the value's quote is column 12).
      const column = 13 + input.indexOf('*');
      expect(placeOf(plan.ir, r.error!)).toMatchObject({ line: 6, column, what: 'template' });
      expect(diverges(plan, events)).toBe(true);
    }
  });

  it('fails a condition at its expression', async () => {
    const { run: r, plan, events } = await run(CONDITION);
    expect(r.status).toBe('failed');
    expect(r.error?.message).toBe(
      'pipeline code threw: c.condition: [EXPRESSION_ERROR] 1e+308 * 10 is Infinity, not a finite number: a run records finite numbers only (at line 1, column 7)',
    );
    expect(placeOf(plan.ir, r.error!)).toMatchObject({ line: 6, column: 34, what: 'expression' });
    expect(diverges(plan, events)).toBe(true);
  });

  it("makes a state machine's `when` not match, as any failure there does", async () => {
    const { run: r } = await run(MACHINE);
    expect(r).toMatchObject({ status: 'completed', output: 'one' });
  });

  it('recorded before the flag, completes as it ran, and replays identically', async () => {
    const text = await run(STEP('x {{ 1e308 * 10 }}'), BEFORE);
    expect(text.run).toMatchObject({ status: 'completed', output: 'x Infinity' });
    const cond = await run(CONDITION, BEFORE);
    expect(cond.run).toMatchObject({ status: 'completed', output: 'big' });
    const machine = await run(MACHINE, BEFORE);
    expect(machine.run).toMatchObject({ status: 'completed', output: 'two' });
    const one = await run(STEP('{{ 1e308 * 10 }}'), BEFORE);
    expect(one.run.error?.message).toContain('[LEDGER_ENCODE]');
  });
});
