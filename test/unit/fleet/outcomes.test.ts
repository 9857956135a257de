/** Which failed messages become dead letters: those that would be retried but have no delivery left. */
import { describe, expect, it } from 'vitest';

import type { WorkMessage } from '../../../src/adapters/nats/work.js';
import { EngineError, ErrorCode } from '../../../src/errors.js';
import { workOut } from '../../../src/fleet/answerWaits.js';
import {
  outcomeOfError,
  settledByRun,
  Stopping,
  waitedMs,
  type RunNow,
} from '../../../src/fleet/outcomes.js';

const resume: WorkMessage = { kind: 'resume', runId: 'r1', body: {} };
const start: WorkMessage = { kind: 'start', runId: 'r2', body: {} };

describe('outcomeOfError and dead letters', () => {
  it('a failure that would be retried is retried, then kept as a dead letter on the last delivery', () => {
    const down = new Error('connect ECONNREFUSED 127.0.0.1:5432');
    expect(outcomeOfError(start, down, 3, false)).toEqual({ kind: 'retry', delayMs: 8_000 });
    const last = outcomeOfError(start, down, 20, true);
    expect(last).toMatchObject({
      kind: 'term',
      dead: { kind: 'start', runId: 'r2', code: 'INTERNAL' },
    });
    expect(last.kind === 'term' && last.reason).toMatch(
      /^gave up after the last delivery \(20\): Error: connect ECONNREFUSED/,
    );
    expect(last.kind === 'term' && last.dead?.reason).toBe(last.kind === 'term' && last.reason);
  });

  it('a resume whose run is not found yet, on its last delivery, is a dead letter too', () => {
    const missing = new EngineError(ErrorCode.RUN_NOT_FOUND, 'no run r1 in the ledger');
    expect(outcomeOfError(resume, missing, 1, false)).toEqual({ kind: 'retry', delayMs: 2_000 });
    expect(outcomeOfError(resume, missing, 2, true)).toMatchObject({
      kind: 'term',
      dead: { kind: 'resume', runId: 'r1', code: 'RUN_NOT_FOUND' },
    });
    // Looked for five times with deliveries to spare: refused on its merits, not a dead letter.
    const refused = outcomeOfError(resume, missing, 5, false);
    expect(refused).toMatchObject({ kind: 'term' });
    expect(refused).not.toHaveProperty('dead');
  });

  it('a message refused on its merits is never a dead letter, even on its last delivery', () => {
    const rejected = new EngineError(ErrorCode.HUMAN_INPUT_REJECTED, '/ok must be boolean');
    const out = outcomeOfError(resume, rejected, 20, true);
    expect(out).toMatchObject({
      kind: 'term',
      reason: 'HUMAN_INPUT_REJECTED: /ok must be boolean',
    });
    expect(out).not.toHaveProperty('dead');
  });

  it('a damaged ledger (a row that does not decode, a bad start, a broken chain) is refused at once', () => {
    for (const code of [
      ErrorCode.LEDGER_DECODE,
      ErrorCode.LEDGER_BAD_START,
      ErrorCode.LEDGER_CORRUPT,
    ] as const) {
      const damaged = new EngineError(code, `run r1 seq 10: damaged`);
      const out = outcomeOfError(resume, damaged, 1, false);
      expect(out).toEqual({ kind: 'term', reason: `${code}: run r1 seq 10: damaged` });
    }
  });

  it("an answer refused while its run still has work out is tried again with backoff, then a dead letter saying why in the fleet's words (ADR 133)", () => {
    const answer: WorkMessage = { kind: 'resume', runId: 'r1', body: { input: 'yes' } };
    const out = ['step "slow1" (a call in flight)'];
    const busy = new EngineError(
      ErrorCode.RUN_NOT_RESUMABLE,
      'run r1 is still running: … if the process that drove it has stopped, take the run up first by resuming it without an answer (it runs until it pauses), then answer',
      { details: { runId: 'r1', status: 'running', outstanding: out } },
    );
    expect(outcomeOfError(answer, busy, 1, false)).toEqual({ kind: 'retry', delayMs: 2_000 });
    expect(outcomeOfError(answer, busy, 7, false)).toEqual({ kind: 'retry', delayMs: 60_000 });
    const last = outcomeOfError(answer, busy, 20, true);
    expect(last).toMatchObject({
      kind: 'term',
      dead: { kind: 'resume', runId: 'r1', code: 'RUN_NOT_RESUMABLE' },
    });
    const reason = last.kind === 'term' ? last.reason : '';
    expect(reason).toMatch(
      /^gave up after the last delivery \(20\): RUN_NOT_RESUMABLE: run r1 was still running on a worker at each of 20 tries of this answer over 15 min \(its work at step "slow1" \(a call in flight\) was out at the last\), so the answer was never recorded/,
    );
    expect(reason).toContain('flujo lens show r1');
    expect(reason).toContain('flujo fleet dead-letters retry');
    expect(reason).not.toMatch(/without an answer/);
    // 2 + 4 + 8 + 16 + 32 s, then 60 s a try: about 15 minutes at the default --max-deliver.
    expect(waitedMs(20)).toBe(902_000);

    // A resume without an answer refused so, or an ended run, is refused as before.
    const bare: WorkMessage = { kind: 'resume', runId: 'r1', body: {} };
    expect(outcomeOfError(bare, busy, 1, false)).toMatchObject({ kind: 'term' });
    const ended = new EngineError(ErrorCode.RUN_NOT_RESUMABLE, 'run r1 already completed', {
      details: { runId: 'r1', status: 'completed' },
    });
    expect(outcomeOfError(answer, ended, 1, false)).toMatchObject({ kind: 'term' });
    expect(workOut(answer, ended)).toBeUndefined();
    expect(workOut(answer, busy)).toEqual(out);
  });

  it('a worker stopping hands the message back, whatever the delivery', () => {
    expect(outcomeOfError(start, new Stopping(), 1, false)).toEqual({ kind: 'retry', delayMs: 0 });
  });
});

describe('settledByRun: a message out of deliveries whose work the ledger shows in hand (ADR 86)', () => {
  const msg = (kind: WorkMessage['kind'], answer = false) => ({ kind, answer });
  const run = (status: RunNow['status'], idleMs = 0): RunNow => ({ status, idleMs });

  it('a run not in the ledger: a dead letter, whatever the message', () => {
    for (const kind of ['start', 'resume', 'cancel'] as const)
      expect(settledByRun(msg(kind), undefined, 300_000)).toBeUndefined();
  });

  it('an ended run settles a start or a resume; a cancel only when the run was cancelled', () => {
    for (const status of ['completed', 'failed', 'cancelled'] as const) {
      expect(settledByRun(msg('start'), run(status), undefined)).toMatch(/has ended/);
      expect(settledByRun(msg('resume', true), run(status), undefined)).toMatch(/has ended/);
    }
    expect(settledByRun(msg('cancel'), run('cancelled'), undefined)).toMatch(/cancelled/);
    expect(settledByRun(msg('cancel'), run('completed'), undefined)).toBeUndefined();
  });

  it('a paused run settles a start or a bare resume, not an answer (it is what the run waits for)', () => {
    expect(settledByRun(msg('start'), run('paused'), undefined)).toMatch(/paused/);
    expect(settledByRun(msg('resume'), run('paused'), undefined)).toMatch(/paused/);
    expect(settledByRun(msg('resume', true), run('paused'), undefined)).toBeUndefined();
    expect(settledByRun(msg('cancel'), run('paused'), 300_000)).toBeUndefined();
  });

  it('a running run with a recent event is in hand; a quiet one, or with no reconciler, is not', () => {
    expect(settledByRun(msg('start'), run('running', 10_000), 300_000)).toMatch(/being driven/);
    expect(settledByRun(msg('resume'), run('running', 10_000), 300_000)).toMatch(/being driven/);
    expect(settledByRun(msg('start'), run('running', 300_000), 300_000)).toBeUndefined();
    expect(settledByRun(msg('start'), run('running', 10), undefined)).toBeUndefined();
    // A cancel of a running run was not recorded: it is what failed.
    expect(settledByRun(msg('cancel'), run('running', 10), 300_000)).toBeUndefined();
  });

  it('an answer to a running run still asking was not taken: a dead letter, not "being driven" (ADR 133)', () => {
    const asking: RunNow = { status: 'running', idleMs: 10, asks: true };
    expect(settledByRun(msg('resume', true), asking, 300_000)).toBeUndefined();
    // Nothing asked any more: the answer was taken, and the run's driver goes on.
    const answered: RunNow = { status: 'running', idleMs: 10, asks: false };
    expect(settledByRun(msg('resume', true), answered, 300_000)).toMatch(/being driven/);
    // A handling in progress (adopt) and the worker's own give-up pass no liveness.
    expect(settledByRun(msg('resume', true), asking, undefined)).toBeUndefined();
  });
});
