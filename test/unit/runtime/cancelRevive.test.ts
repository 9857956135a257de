/**
 * A cancel of a run that a resume in the same engine is taking up (ADR 137): while the resume
 * loads the run, appends its claim, records what the interruption cost (BudgetReconciled of the
 * lost attempt) or has just re-issued the call that was in flight. Before, the cancel did not see
 * the run as driven here until resume had revived its work: it recorded RunCancelled under the
 * resume, whose next append then failed with a LedgerConflictError. (The first case passed before
 * too: once the call is re-issued, the driver is registered before any cancel can look.) Then with
 * two resumes of one run in one engine, the second's claim fencing the first, and a resume begun
 * while the cancel is recorded.
 */
import { describe, expect, it, vi } from 'vitest';
import { z } from 'zod';

import { createMemoryLedger } from '../../../src/adapters/ledger/memory.js';
import { agentStep, definePipeline, hitl, sequence } from '../../../src/dsl/builder.js';
import type { LedgerEvent } from '../../../src/events/envelope.js';
import type { AgentPort, AppendRequest, LedgerStore } from '../../../src/ports.js';
import { createEngine } from '../../../src/runtime/engine.js';
import { verifyStoredRun } from '../../../src/runtime/verifyLedger.js';
import { trace } from '../../support/given.js';

const BUDGET = { costMicros: 1_000_000 };
const plan = definePipeline('revive', sequence(agentStep('a', 'm:a'), agentStep('b', 'm:b'))).plan;

/**
 * A port whose calls reserve 100 µ$ and wait for an abort or `answer(i)` (the i-th call's, the
 * last by default); every call is noted.
 */
function blockingAgents() {
  const started: string[] = [];
  const aborted: string[] = [];
  const answers: (() => void)[] = [];
  let onStart = () => {};
  const port: AgentPort = {
    estimate: () => ({ costMicros: 100, tokens: 50 }),
    call(req, signal) {
      started.push(req.key);
      onStart();
      return new Promise((resolve, reject) => {
        answers.push(() =>
          resolve({ output: 'ok', usage: { input: 1, output: 1 }, costMicros: 30, model: 'm' }),
        );
        signal.addEventListener('abort', () => {
          aborted.push(req.key);
          reject(new Error('aborted'));
        });
      });
    },
  };
  const whenStarted = () => new Promise<void>((r) => (onStart = r));
  return { port, started, aborted, answer: (i = -1) => answers.at(i)?.(), whenStarted };
}

/**
 * A run of `plan` whose process stopped with step a's call in flight (reserved 100 µ$ under the
 * budget; without one, nothing is reserved and resume records no charge before it re-issues).
 */
async function interrupted(
  ledger: LedgerStore,
  runId: string,
  budget: typeof BUDGET | null = BUDGET,
) {
  const first = blockingAgents();
  const gone = createEngine({ ledger, agents: first.port, worker: 'gone' });
  const running = gone.run(plan, 'x', { runId, ...(budget ? { budget } : {}) });
  await vi.waitFor(() => expect(first.started).toHaveLength(1));
  await gone.detach();
  await running;
}

/**
 * The ledger, with a gate, once armed, on the first append whose first event is of type `type`
 * (or, for `'head'`, on the first head read); with `after`, the append is made first and the gate
 * holds its answer.
 */
function gatedLedger(type: string, after = false) {
  const base = createMemoryLedger();
  let reached = () => {};
  const atGate = new Promise<void>((r) => (reached = r));
  let open = () => {};
  const opened = new Promise<void>((r) => (open = r));
  let armed = false;
  const ledger = new Proxy(base, {
    get(target, key) {
      if (key === 'append')
        return async (req: AppendRequest) => {
          if (!armed || req.events[0]?.type !== type) return target.append(req);
          armed = false;
          const made = after ? await target.append(req) : undefined;
          reached();
          await opened;
          return made ?? target.append(req);
        };
      if (key === 'head' && type === 'head')
        return async (runId: string) => {
          if (armed) {
            armed = false;
            reached();
            await opened;
          }
          return target.head(runId);
        };
      const v = Reflect.get(target, key) as unknown;
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  }) as LedgerStore;
  return { base, ledger, arm: () => (armed = true), atGate, open: () => open() };
}

const charges = (events: readonly LedgerEvent[]) =>
  events
    .filter((e) => e.type === 'BudgetReconciled')
    .map((e) => e.data as { path: string; attempt: number; costMicros: number });

/** What every case checks: one RunCancelled, last; the ledger verifies and replays identically. */
async function closedCleanly(ledger: LedgerStore, runId: string) {
  const engine = createEngine({ ledger, worker: 'check' });
  const events = await engine.events(runId);
  expect(events.filter((e) => e.type === 'RunCancelled')).toHaveLength(1);
  expect(events.at(-1)?.type).toBe('RunCancelled');
  expect((await verifyStoredRun(ledger, runId)).ok).toBe(true);
  expect(await engine.replay(plan, runId)).toMatchObject({ identical: true });
  expect(await engine.resume(plan, runId)).toMatchObject({ status: 'cancelled' });
  return events;
}

describe('a cancel while resume takes the run up in the same engine', () => {
  it('once the revived call has started: aborts it and charges it, and resume says cancelled', async () => {
    const ledger = createMemoryLedger();
    await interrupted(ledger, 'started');
    const a = blockingAgents();
    const engine = createEngine({ ledger, agents: a.port, worker: 'here' });
    const call = a.whenStarted();
    const resumed = engine.resume(plan, 'started');
    await call;
    const cancelled = engine.cancel('started', 'stop');
    a.answer(); // a reply that comes after the cancel is not recorded
    await expect(cancelled).resolves.toMatchObject({ status: 'cancelled' });
    await expect(resumed).resolves.toMatchObject({ status: 'cancelled', costMicros: 200 });
    expect(a.aborted).toEqual(['started:0:1']);
    const events = await closedCleanly(ledger, 'started');
    // The lost attempt (resume) and the re-issued one (the cancel), each at its reservation.
    expect(charges(events)).toEqual([
      { path: '0', attempt: 1, costMicros: 100, tokens: 50 },
      { path: '0', attempt: 1, costMicros: 100, tokens: 50 },
    ]);
    expect(trace(events).slice(-2)).toEqual(['BudgetReconciled 0', 'RunCancelled']);
    expect(trace(events)).not.toContain('AgentResponded 0');
  });

  it("while resume records the lost attempt's charge: the call is not re-issued", async () => {
    const g = gatedLedger('BudgetReconciled');
    await interrupted(g.ledger, 'charging');
    g.arm();
    const a = blockingAgents();
    const engine = createEngine({ ledger: g.ledger, agents: a.port, worker: 'here' });
    const resumed = engine.resume(plan, 'charging');
    await g.atGate;
    const cancelled = engine.cancel('charging', 'stop');
    // Before: the cancel appended RunCancelled under the gate, and resume's charge conflicted.
    await Promise.race([cancelled, new Promise((r) => setTimeout(r, 50))]);
    g.open();
    await expect(resumed).resolves.toMatchObject({ status: 'cancelled', costMicros: 100 });
    await expect(cancelled).resolves.toMatchObject({ status: 'cancelled', costMicros: 100 });
    expect(a.started).toEqual([]);
    const events = await closedCleanly(g.base, 'charging');
    // The lost attempt only: the re-reserved call was never sent, its reservation is released.
    expect(charges(events)).toEqual([{ path: '0', attempt: 1, costMicros: 100, tokens: 50 }]);
  });

  it('while resume appends its claim: nothing is re-issued and the lost attempt is charged', async () => {
    const g = gatedLedger('RunClaimed');
    await interrupted(g.ledger, 'claiming');
    g.arm();
    const a = blockingAgents();
    const engine = createEngine({ ledger: g.ledger, agents: a.port, worker: 'here' });
    const resumed = engine.resume(plan, 'claiming');
    await g.atGate;
    const cancelled = engine.cancel('claiming', 'stop');
    await Promise.race([cancelled, new Promise((r) => setTimeout(r, 50))]);
    g.open();
    await expect(resumed).resolves.toMatchObject({ status: 'cancelled', costMicros: 100 });
    await expect(cancelled).resolves.toMatchObject({ status: 'cancelled', costMicros: 100 });
    expect(a.started).toEqual([]);
    const events = await closedCleanly(g.base, 'claiming');
    expect(charges(events)).toEqual([{ path: '0', attempt: 1, costMicros: 100, tokens: 50 }]);
    expect(trace(events).slice(-4)).toEqual([
      'RunClaimed',
      'RunResumed',
      'BudgetReconciled 0',
      'RunCancelled',
    ]);
  });

  it('by another process while resume appends its claim: resume says cancelled, not a conflict', async () => {
    const g = gatedLedger('RunClaimed');
    await interrupted(g.ledger, 'far');
    g.arm();
    const a = blockingAgents();
    const engine = createEngine({ ledger: g.ledger, agents: a.port, worker: 'here' });
    const resumed = engine.resume(plan, 'far');
    await g.atGate;
    const other = createEngine({ ledger: g.ledger, worker: 'cli' });
    await expect(other.cancel('far', 'stop')).resolves.toMatchObject({ status: 'cancelled' });
    g.open();
    // Before: LedgerConflictError "append expected head seq 6 but the ledger is at 8".
    await expect(resumed).resolves.toMatchObject({ status: 'cancelled', costMicros: 100 });
    expect(a.started).toEqual([]);
    const events = await closedCleanly(g.base, 'far');
    expect(events.filter((e) => e.type === 'RunClaimed')).toHaveLength(1); // the run's own
  });

  it('while resume with an answer loads the run: the answer is not recorded, resume says cancelled', async () => {
    const asks = definePipeline(
      'asks',
      sequence(
        hitl('ok', { message: 'ok?', schema: z.object({ ok: z.boolean() }) }),
        agentStep('after', 'm:a'),
      ),
    ).plan;
    const g = gatedLedger('head');
    const a = blockingAgents();
    const engine = createEngine({ ledger: g.ledger, agents: a.port, worker: 'here' });
    expect(await engine.run(asks, null, { runId: 'asked' })).toMatchObject({ status: 'paused' });
    const before = trace(await engine.events('asked'));
    g.arm();
    const resumed = engine.resume(asks, 'asked', { humanInput: { ok: true } });
    await g.atGate;
    const cancelled = engine.cancel('asked', 'stop');
    await Promise.race([cancelled, new Promise((r) => setTimeout(r, 50))]);
    g.open();
    // Before: RUN_NOT_RESUMABLE, as an answer to a run already cancelled (the cancel, unseen,
    // was recorded under the resume's first read).
    await expect(resumed).resolves.toMatchObject({ status: 'cancelled' });
    await expect(cancelled).resolves.toMatchObject({ status: 'cancelled' });
    expect(a.started).toEqual([]);
    const events = await engine.events('asked');
    expect(trace(events)).toEqual([...before, 'RunCancelled']);
    expect((await verifyStoredRun(g.base, 'asked')).ok).toBe(true);
    expect(await engine.replay(asks, 'asked')).toMatchObject({ identical: true });
  });

  it('while a second resume, which fenced the first, goes from its claim to its drive: it sends nothing', async () => {
    const g = gatedLedger('RunClaimed', true);
    await interrupted(g.ledger, 'twice', null); // no budget: no charge is appended before the call
    const a = blockingAgents();
    const engine = createEngine({ ledger: g.ledger, agents: a.port, worker: 'here' });
    const call = a.whenStarted();
    const first = engine.resume(plan, 'twice');
    await call;
    g.arm();
    // The same run resumed again in this engine (a redelivered message, a web-lens resume).
    const second = engine.resume(plan, 'twice');
    await g.atGate; // its claim is recorded, its drive has not begun
    a.answer(); // the first's reply is refused by the second's claim: the first gives up
    await expect(first).rejects.toMatchObject({ code: 'LEDGER_FENCED' });
    const cancelled = engine.cancel('twice', 'stop');
    // Before: the first's end forgot that the run was being taken up, and the cancel recorded
    // RunCancelled at once; the second then re-issued the call after it.
    await Promise.race([cancelled, new Promise((r) => setTimeout(r, 50))]);
    g.open();
    await expect(cancelled).resolves.toMatchObject({ status: 'cancelled' });
    await Promise.race([second, new Promise((r) => setTimeout(r, 50))]);
    expect(a.started).toEqual(['twice:0:1']); // the first's re-issued call only
    await expect(second).resolves.toMatchObject({ status: 'cancelled' });
    const events = await closedCleanly(g.base, 'twice');
    expect(trace(events).slice(-3)).toEqual(['RunClaimed', 'RunResumed', 'RunCancelled']);
  });

  it('once a second resume, which fenced the first, drives the run: the cancel stops it', async () => {
    const ledger = createMemoryLedger();
    await interrupted(ledger, 'again', null);
    const a = blockingAgents();
    const engine = createEngine({ ledger, agents: a.port, worker: 'here' });
    let call = a.whenStarted();
    const first = engine.resume(plan, 'again');
    await call;
    call = a.whenStarted();
    const second = engine.resume(plan, 'again');
    await call; // the second's re-issued call is out
    a.answer(0); // the first's reply is refused by the second's claim: the first gives up
    await expect(first).rejects.toMatchObject({ code: 'LEDGER_FENCED' });
    // Before: the first, ending, took the second off the runs driven here, and the cancel
    // recorded RunCancelled without stopping it: its call went on.
    await expect(engine.cancel('again', 'stop')).resolves.toMatchObject({ status: 'cancelled' });
    await Promise.race([second, new Promise((r) => setTimeout(r, 50))]);
    expect(a.aborted).toEqual(['again:0:1']);
    await expect(second).resolves.toMatchObject({ status: 'cancelled' });
    await closedCleanly(ledger, 'again');
  });

  it('with a resume begun while RunCancelled is appended, whose claim comes first: it sends nothing', async () => {
    const g = gatedLedger('RunCancelled');
    await interrupted(g.ledger, 'late', null);
    g.arm();
    const a = blockingAgents();
    const engine = createEngine({ ledger: g.ledger, agents: a.port, worker: 'here' });
    const cancelled = engine.cancel('late', 'stop');
    await g.atGate; // the cancel found no driver here and read the head it appends after
    const resumed = engine.resume(plan, 'late');
    await vi.waitFor(async () => expect((await g.base.head('late'))?.epoch).toBe(2));
    g.open(); // the cancel's append conflicts with the claim: it looks again for drivers here
    await expect(cancelled).resolves.toMatchObject({ status: 'cancelled' });
    // Before: the resume was not there when the cancel looked, and re-issued the call after it.
    await Promise.race([resumed, new Promise((r) => setTimeout(r, 50))]);
    expect(a.started).toEqual([]);
    await expect(resumed).resolves.toMatchObject({ status: 'cancelled' });
    const events = await closedCleanly(g.base, 'late');
    expect(trace(events).slice(-3)).toEqual(['RunClaimed', 'RunResumed', 'RunCancelled']);
  });

  it('detach while resume records the charge: nothing is re-issued after it returns', async () => {
    const g = gatedLedger('BudgetReconciled');
    await interrupted(g.ledger, 'detached');
    g.arm();
    const a = blockingAgents();
    const engine = createEngine({ ledger: g.ledger, agents: a.port, worker: 'here' });
    const resumed = engine.resume(plan, 'detached');
    await g.atGate;
    const detached = engine.detach();
    g.open();
    await detached;
    await Promise.race([resumed, new Promise((r) => setTimeout(r, 50))]);
    // Before: detach did not see the resumed driver, which then sent the call and went on.
    expect(a.started).toEqual([]);
    await expect(resumed).resolves.toMatchObject({ status: 'running' });
    expect((await verifyStoredRun(g.base, 'detached')).ok).toBe(true);
  });
});
