/**
 * Verifying a run that is still being recorded (lens show, lens export, lens report, lens verify
 * and the web lens all verify before they read): the store's head is read first, then the rows,
 * and an append by the run's driver may land in between. The rows then go past the head read
 * first; that is the run growing, not a head that disagrees with its chain.
 */
import { beforeAll, describe, expect, it } from 'vitest';

import { createMemoryLedger } from '../../../src/adapters/ledger/memory.js';
import { initFastHash } from '../../../src/events/chain.js';
import { emptyHead, type Head } from '../../../src/events/envelope.js';
import type { LedgerStore } from '../../../src/ports.js';
import { chainDamage, verifyStoredRun } from '../../../src/runtime/verifyLedger.js';

const AT = 1_765_000_000_000;

async function started(ledger: LedgerStore, runId: string): Promise<Head> {
  const r = await ledger.append({
    runId,
    expected: emptyHead(runId),
    events: [
      {
        type: 'RunStarted',
        data: {
          pipeline: { name: 'p', fingerprint: 'f' },
          input: 'x',
          engine: { version: 't', flags: [] },
        },
      },
      { type: 'RunClaimed', data: { worker: 'w', epoch: 1 } },
    ],
    at: AT,
  });
  return r.head;
}

const step = (ledger: LedgerStore, runId: string, head: Head, n: number) =>
  ledger
    .append({
      runId,
      expected: head,
      events: [{ type: 'StepScheduled', data: { path: String(n), name: `s${n}`, kind: 'step' } }],
      at: AT + n,
    })
    .then((r) => r.head);

/** The store, with `between` run once right after the first head read (the driver appending). */
function appendingAfterHead(store: LedgerStore, between: () => Promise<void>): LedgerStore {
  let once: (() => Promise<void>) | undefined = between;
  return new Proxy(store, {
    get(target, key) {
      if (key === 'head')
        return async (runId: string) => {
          const h = await target.head(runId);
          const go = once;
          once = undefined;
          await go?.();
          return h;
        };
      const v = Reflect.get(target, key) as unknown;
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
}

describe('verifying a run while it is recorded', () => {
  beforeAll(initFastHash);

  it('an append between the head read and the rows read is not a head mismatch', async () => {
    const ledger = createMemoryLedger();
    let head = await started(ledger, 'live');
    head = await step(ledger, 'live', head, 1);
    const racing = appendingAfterHead(ledger, async () => {
      head = await step(ledger, 'live', head, 2);
      head = await step(ledger, 'live', head, 3);
    });
    const v = await verifyStoredRun(racing, 'live');
    expect(v.failure).toBeUndefined();
    expect(v).toMatchObject({ ok: true, events: 5, headSeq: 5 });
    expect(
      await chainDamage(
        appendingAfterHead(ledger, async () => {
          head = await step(ledger, 'live', head, 4);
        }),
        'live',
        'nothing was shown',
      ),
    ).toBeUndefined();
  });

  it('rows past a head that stays put are still a head mismatch', async () => {
    const ledger = createMemoryLedger();
    let head = await started(ledger, 'forged');
    head = await step(ledger, 'forged', head, 1);
    // A store whose head row stays behind its rows (a row written past it, or the head edited
    // back): whatever the reads' timing, the chain and the head disagree.
    const stale = head;
    await step(ledger, 'forged', head, 2);
    const lagging = new Proxy(ledger, {
      get(target, key) {
        if (key === 'head')
          return async () => ({
            ...stale,
            epoch: 1,
            terminal: false,
            createdAt: AT,
            updatedAt: AT,
          });
        const v = Reflect.get(target, key) as unknown;
        return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
      },
    }) as LedgerStore;
    const v = await verifyStoredRun(lagging, 'forged');
    expect(v).toMatchObject({ ok: false, failure: { reason: 'head_mismatch', seq: 4 } });
  });
});
