/**
 * The views ADR 88 left listing engine steps: `lens report` (md/html), `lens watch`'s live
 * classification and `flujo run`'s progress lines. Each leaves the engine's steps out by default
 * (a report counts them), keeps the one that failed a run by itself, and agrees with
 * `stepVisibility`, which `lens show` and `lens trace` use.
 */
import { beforeAll, describe, expect, it } from 'vitest';

import { createProgress } from '../../src/cli/progress.js';
import type { Output } from '../../src/cli/output.js';
import { definePipeline, parallel, sequence, step } from '../../src/dsl/builder.js';
import { initFastHash } from '../../src/events/chain.js';
import type { NewEvent } from '../../src/events/catalogue.js';
import type { LedgerEvent } from '../../src/events/envelope.js';
import { stepVisibility } from '../../src/lens/engineSteps.js';
import { readRunEvents } from '../../src/lens/events.js';
import { liveSteps } from '../../src/lens/liveSteps.js';
import { buildReport, named } from '../../src/lens/report.js';
import { reportHtml, reportMarkdown } from '../../src/lens/reportRender.js';
import { verifyStoredRun } from '../../src/runtime/verifyLedger.js';
import { harness } from '../support/given.js';

const h = harness();
const okPlan = definePipeline(
  'engine_ok',
  sequence(
    step('first', (x: string) => `${x}!`),
    parallel('__first_stash0', { a: step('__first_copy1', (x: unknown) => x) }),
    step('second', (x: unknown) => `${String(x)}?`),
  ),
).plan;
const failPlan = definePipeline(
  'engine_fails',
  sequence(
    step('first', (x: string) => `${x}!`),
    parallel('__first_stash0', { a: step('__first_copy1', (x: unknown) => x) }),
    step('__first_set2', () => {
      throw Object.assign(new Error('import_artifacts is not an object'), { code: 'SET_FAILED' });
    }),
    step('never', (x: unknown) => x),
  ),
).plan;
const events: Record<string, LedgerEvent[]> = {};

beforeAll(async () => {
  await initFastHash();
  await h.engine.run(okPlan, 'x', { runId: 'ok' });
  await h.engine.run(failPlan, 'x', { runId: 'ef' });
  for (const id of ['ok', 'ef']) events[id] = await readRunEvents(h.ledger, id);
});

const report = async (id: string) =>
  buildReport(events[id] as LedgerEvent[], await verifyStoredRun(h.ledger, id));

describe('lens report', () => {
  it('md and html leave out engine steps with a count line; --all lists them', async () => {
    const r = await report('ok');
    const md = reportMarkdown(r);
    expect(md).toContain('| 0 | first | step |');
    expect(md).toContain('| 2 | second | step |');
    expect(md).not.toContain('\\_\\_first');
    expect(md).toContain('\n(+2 engine steps; --all to show them)\n');
    const all = reportMarkdown(r, { all: true });
    expect(all).toContain('| 1 | \\_\\_first_stash0 | parallel |');
    expect(all).toContain('\\_\\_first_copy1');
    expect(all).not.toContain('engine step');
    const html = reportHtml(r);
    expect(html).not.toContain('__first');
    expect(html).toContain('<p>(+2 engine steps; --all to show them)</p>');
    expect(reportHtml(r, { all: true })).toContain('__first_copy1');
  });

  it('keeps the engine step that failed the run, and the JSON marks every step', async () => {
    const r = await report('ef');
    const md = reportMarkdown(r);
    expect(md).toContain('| 2 | \\_\\_first_set2 | step | failed |');
    expect(md).not.toContain('stash0');
    expect(md).toContain('(+2 engine steps; --all to show them)');
    expect(Object.fromEntries(r.steps.map((s) => [s.name, s.internal]))).toEqual({
      first: false,
      __first_stash0: true,
      __first_copy1: true,
      __first_set2: true,
    });
  });
});

describe('lens watch: the live classification', () => {
  it('agrees with stepVisibility over the whole run, step by step', async () => {
    for (const id of ['ok', 'ef']) {
      const live = liveSteps();
      const shown = new Set<string>();
      for (const e of events[id] as LedgerEvent[]) {
        if (e.type === 'StepScheduled' && e.data.path !== '.') {
          if (live.scheduled(e.data.path, e.data.name, e.data.kind) === 'show')
            shown.add(e.data.path);
        } else if (e.type === 'StepFailed' && e.data.path !== '.') {
          if (live.failed(e.data.path, e.data.error.code) === 'show') shown.add(e.data.path);
        }
        for (const p of live.settled()) shown.add(p);
      }
      for (const p of live.finish()) shown.add(p);
      const r = await report(id);
      const after = stepVisibility(r.steps.map(named));
      const expected = [...after].filter(([, v]) => !v.hidden).map(([p]) => p);
      expect([...shown].sort(), id).toEqual(expected.sort());
      expect(live.hiddenCount(), id).toBe(after.size - expected.length);
    }
  });

  it("holds a sequence until a step below settles it: its own name's step makes it the loader's wrapper", () => {
    const live = liveSteps();
    expect(live.scheduled('1', 'refine', 'sequence')).toBe('hold');
    expect(live.scheduled('1/0', '__refine_stash1', 'sequence')).toBe('hide');
    expect(live.settled()).toEqual([]);
    expect(live.scheduled('1/2', 'refine', 'loop')).toBe('show');
    expect(live.settled()).toEqual([]);
    expect(live.line('1')).toBe('hide');
    // A user's sequence is released by its first step not named __…
    expect(live.scheduled('2', 'review', 'sequence')).toBe('hold');
    expect(live.scheduled('2/0', 'draft', 'step')).toBe('show');
    expect(live.settled()).toEqual(['2']);
    expect(live.hiddenCount()).toBe(2);
  });
});

describe('flujo run progress lines', () => {
  const lines = (id: string) => {
    const said: string[] = [];
    const plain = (s: string) => s;
    const out = {
      info: (t: string) => said.push(t),
      color: { ok: plain, bad: plain, dim: plain },
      interactive: false,
    } as unknown as Output;
    const p = createProgress(out, () => undefined);
    p.onCommit(id, events[id] as unknown as NewEvent[], 0);
    p.done();
    return said;
  };

  it("name only the user's steps", () => {
    const said = lines('ok');
    expect(said).toEqual([
      'step first started',
      expect.stringMatching(/^✓ first \d+ ms$/),
      'step second started',
      expect.stringMatching(/^✓ second \d+ ms$/),
    ]);
  });

  it('name the engine step that failed the run by itself', () => {
    const said = lines('ef');
    expect(said.join('\n')).not.toMatch(/stash0|copy1/);
    expect(said).toContainEqual(
      expect.stringMatching(/^✗ __first_set2 \d+ ms: import_artifacts is not an object$/),
    );
  });
});
