/**
 * A cancel charges the model calls a run has out (ADR 128): they were sent and may be billed, and
 * nothing of theirs is recorded after RunCancelled. Before, a cancel recorded RunCancelled alone
 * and the run's cost read 0 for them. Stopped in this process, the driver says which calls it had
 * started (a call waiting for a slot is not charged) and which outcomes it had not recorded yet
 * (charged what they report); driven by no one, only the ledger is known and every reservation
 * it holds is charged. On every ledger, in the run's result, its read models (inline and rebuilt),
 * and a replay, which stays identical.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, describe, expect, it, vi } from 'vitest';

import { openState, type State } from '../../src/adapters/ledger/state.js';
import { agentStep, definePipeline, parallel, sequence } from '../../src/dsl/builder.js';
import type { LedgerEvent } from '../../src/events/envelope.js';
import type { AgentPort, AgentReply, AppendRequest, LedgerStore } from '../../src/ports.js';
import { createEngine } from '../../src/runtime/engine.js';
import { PG_URL, dropSchema, postgresReachable, uniqueSchema } from '../support/services.js';

const reachable = await postgresReachable();
const schema = uniqueSchema('budgetcancel');
const dirs: string[] = [];
afterAll(async () => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
  if (reachable) await dropSchema(schema);
});

const stores: [string, () => Promise<State>][] = [
  [
    'SQLite',
    () => {
      const dir = mkdtempSync(join(tmpdir(), 'flujo-budget-cancel-'));
      dirs.push(dir);
      return openState('sqlite:///state.db', { projectRoot: dir });
    },
  ],
  // The reference fold of the read models (src/projections/tables.ts).
  ['memory', () => openState('memory://', { projectRoot: '/' })],
];
if (reachable)
  stores.push(['Postgres', () => openState(`${PG_URL}?schema=${schema}`, { projectRoot: '/' })]);

const BUDGET = { costMicros: 1_000_000 };
/** A loaded machine may take more than waitFor's default second to get there. */
const WAIT = { timeout: 10_000 };
const reply = (costMicros: number, input: number, output: number): AgentReply => ({
  output: 'ok',
  usage: { input, output },
  costMicros,
  model: 'm-2024',
});

/**
 * Every model call reserves 100 µ$ and 50 tokens. `m:fast` answers at 30 µ$; `m:gated` answers
 * at 40 µ$ (15 tokens) when its gate opens; `m:slow` answers only an abort (with an error).
 */
function agents() {
  const started: string[] = [];
  const aborted: string[] = [];
  let openGate = () => {};
  const port: AgentPort = {
    estimate: () => ({ costMicros: 100, tokens: 50 }),
    call(req, signal) {
      started.push(req.key);
      if (req.agent === 'm:fast') return Promise.resolve(reply(30, 5, 5));
      if (req.agent === 'm:gated')
        return new Promise((resolve) => (openGate = () => resolve(reply(40, 8, 7))));
      return new Promise((_, reject) =>
        signal.addEventListener('abort', () => {
          aborted.push(req.key);
          reject(new Error('aborted'));
        }),
      );
    },
  };
  return { port, started, aborted, openGate: () => openGate() };
}

/** A first call that answers, then two slow calls in parallel. */
const fanOut = definePipeline(
  'fan-out',
  sequence(
    agentStep('first', 'm:fast'),
    parallel('p', { a: agentStep('slow1', 'm:slow'), b: agentStep('slow2', 'm:slow') }),
  ),
).plan;

const charges = (events: readonly LedgerEvent[]) =>
  events
    .filter((e) => e.type === 'BudgetReconciled')
    .map((e) => e.data as { path: string; attempt: number; costMicros: number; tokens: number });

const reservedPaths = (events: readonly LedgerEvent[]) =>
  events.filter((e) => e.type === 'BudgetReserved').map((e) => (e.data as { path: string }).path);

/**
 * The run's cost as `lens` reads it (the runs read model), inline and after a rebuild; `lens costs
 * RUN` (the per-run query, every dimension) says the same, counting as calls the attempts with an
 * outcome recorded, and the all-runs query is the sum of the per-run ones (ADR 128).
 */
async function lensCost(state: State, runId: string, events: readonly LedgerEvent[]) {
  const rm = state.readModels;
  const outcomes = events.filter((e) => /^Agent(Responded|Failed)$/.test(e.type)).length;
  const total = (rows: readonly { calls: number; costMicros: number }[]) =>
    rows.reduce((t, r) => ({ calls: t.calls + r.calls, costMicros: t.costMicros + r.costMicros }), {
      calls: 0,
      costMicros: 0,
    });
  const read = async () => {
    const cost = (await rm.getRun(runId))?.costMicros;
    for (const by of ['model', 'step', 'day', 'pipeline'] as const)
      expect(total(await rm.costs({ by, runId }))).toEqual({ calls: outcomes, costMicros: cost });
    const perRun = await Promise.all(
      (await rm.listRuns()).map(async (r) =>
        total(await rm.costs({ by: 'model', runId: r.runId })),
      ),
    );
    expect(total(await rm.costs({ by: 'model' }))).toEqual(total(perRun));
    return cost;
  };
  const inline = await read();
  await state.rebuild();
  expect(await read()).toBe(inline);
  return inline;
}

describe.each(stores)('a cancel under a budget (%s)', (name, open) => {
  it('in this process: charges the call in flight its reservation, not the one waiting for a slot', async () => {
    const state = await open();
    try {
      const a = agents();
      const engine = createEngine({
        ledger: state.ledger,
        agents: a.port,
        maxCallsInFlight: 1,
        worker: 't',
      });
      const runId = `here-${name}`;
      const running = engine.run(fanOut, 'x', { runId, budget: BUDGET });
      await vi.waitFor(() => expect(a.started).toHaveLength(2), WAIT);
      const r = await engine.cancel(runId, 'stop');
      expect(r.status).toBe('cancelled');
      await expect(running).resolves.toMatchObject({ status: 'cancelled', costMicros: 130 });
      expect(r.costMicros).toBe(130); // 30 answered + 100 charged (was 30)

      const events = await engine.events(runId);
      const slow = reservedPaths(events).slice(1); // both slow calls were reserved
      expect(slow).toHaveLength(2);
      // The one started (aborted by the cancel) is charged; the one waiting for a slot is not.
      expect(a.aborted).toEqual([`${runId}:${slow[0]}:1`]);
      expect(charges(events)).toEqual([{ path: slow[0], attempt: 1, costMicros: 100, tokens: 50 }]);
      expect(events.slice(-2).map((e) => e.type)).toEqual(['BudgetReconciled', 'RunCancelled']);
      // One append: the charge and the cancel are committed together.
      expect(events.at(-2)?.at).toBe(events.at(-1)?.at);
      expect(await engine.replay(fanOut, runId)).toMatchObject({ identical: true });
      expect(await engine.resume(fanOut, runId)).toMatchObject({
        status: 'cancelled',
        costMicros: 130,
      });
      expect(await lensCost(state, runId, events)).toBe(130);
      // The step's attempt carries its charge (lens show's steps read model).
      const steps = await state.readModels.steps(runId);
      expect(steps.filter((s) => s.path === slow[0]).map((s) => s.costMicros)).toEqual([100]);
    } finally {
      await state.close();
    }
  });

  it('driven by no one (its process stopped): charges every reservation the ledger holds', async () => {
    const state = await open();
    try {
      const a = agents();
      const first = createEngine({
        ledger: state.ledger,
        agents: a.port,
        maxCallsInFlight: 1,
        worker: 'gone',
      });
      const runId = `left-${name}`;
      const running = first.run(fanOut, 'x', { runId, budget: BUDGET });
      await vi.waitFor(() => expect(a.started).toHaveLength(2), WAIT);
      await first.detach(); // the process dies with a call out and one waiting for a slot
      await running;

      // `flujo cancel` from another process: the ledger cannot tell a call sent from one that
      // waited for a slot, so both are charged (as resume charges a call a crash lost).
      const other = createEngine({ ledger: state.ledger, worker: 'cli' });
      const r = await other.cancel(runId, 'stop');
      expect(r).toMatchObject({ status: 'cancelled', costMicros: 230 });
      const events = await other.events(runId);
      const slow = reservedPaths(events).slice(1);
      expect(charges(events)).toEqual(
        slow.map((path) => ({ path, attempt: 1, costMicros: 100, tokens: 50 })),
      );
      expect(events.slice(-3).map((e) => e.type)).toEqual([
        'BudgetReconciled',
        'BudgetReconciled',
        'RunCancelled',
      ]);
      expect(await other.replay(fanOut, runId)).toMatchObject({ identical: true });
      expect(await lensCost(state, runId, events)).toBe(230);
    } finally {
      await state.close();
    }
  });

  it('charges an outcome the driver had not recorded yet what it reports', async () => {
    const state = await open();
    try {
      // The commit of m:fast's reply is held until the cancel has stopped the driver; m:gated's
      // reply comes meanwhile and is still queued when the driver stops.
      let hold: Promise<void> | undefined;
      let release = () => {};
      const ledger = new Proxy(state.ledger, {
        get(target, key) {
          if (key === 'append')
            return async (req: AppendRequest) => {
              if (!hold && req.events[0]?.type === 'AgentResponded') {
                hold = new Promise<void>((r) => (release = r));
                await hold;
              }
              return target.append(req);
            };
          const v = Reflect.get(target, key) as unknown;
          return typeof v === 'function' ? (v as (...x: unknown[]) => unknown).bind(target) : v;
        },
      }) as LedgerStore;
      const a = agents();
      const engine = createEngine({ ledger, agents: a.port, worker: 't' });
      const plan = definePipeline(
        'queued',
        parallel('p', {
          a: agentStep('a', 'm:fast'),
          b: agentStep('b', 'm:gated'),
          c: agentStep('c', 'm:slow'),
        }),
      ).plan;
      const runId = `queued-${name}`;
      const running = engine.run(plan, 'x', { runId, budget: BUDGET });
      await vi.waitFor(() => expect(hold).toBeDefined(), WAIT);
      expect(a.started).toHaveLength(3);
      a.openGate();
      await new Promise((r) => setTimeout(r, 20)); // m:gated's reply is queued
      const cancelled = engine.cancel(runId, 'stop');
      await vi.waitFor(() => expect(a.aborted).toHaveLength(1), WAIT); // the driver has stopped
      release();
      expect(await cancelled).toMatchObject({ status: 'cancelled', costMicros: 170 });
      await expect(running).resolves.toMatchObject({ status: 'cancelled' });

      const events = await engine.events(runId);
      const [pa, pb, pc] = reservedPaths(events);
      expect(events.filter((e) => e.type === 'AgentResponded')).toHaveLength(1); // m:fast's
      // m:gated at what it reported, m:slow at its reservation: 30 + 40 + 100.
      expect(charges(events)).toEqual([
        { path: pb, attempt: 1, costMicros: 40, tokens: 15 },
        { path: pc, attempt: 1, costMicros: 100, tokens: 50 },
      ]);
      expect(pa).toBeDefined();
      expect(events.at(-1)?.type).toBe('RunCancelled');
      expect(await engine.replay(plan, runId)).toMatchObject({ identical: true });
      expect(await lensCost(state, runId, events)).toBe(170);
    } finally {
      await state.close();
    }
  });
});
