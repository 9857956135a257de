/**
 * Which steps the engine made and which the text views leave out (ADR 88): the names the
 * blueprint loader invents, the failure that must still surface, and the trace text over a
 * recorded run whose engine step failed it.
 */
import { beforeAll, describe, expect, it } from 'vitest';

import { definePipeline, parallel, sequence, step } from '../../src/dsl/builder.js';
import { initFastHash } from '../../src/events/chain.js';
import { rowVisibility, stepVisibility, type NamedStep } from '../../src/lens/engineSteps.js';
import { readRunEvents } from '../../src/lens/events.js';
import { buildTrace, type Span } from '../../src/lens/trace.js';
import { renderTrace } from '../../src/lens/traceText.js';
import { harness } from '../support/given.js';

const row = (path: string, name: string, kind = 'sequence', failed = false): NamedStep => ({
  path,
  name,
  kind,
  failed,
});

/** The quiet import of test/e2e/lensShowUnfinished.test.ts, as the loader names its steps. */
const quiet = [
  row('0', 'quiet_child'),
  row('0/0', '__quiet_child_import4', 'parallel'),
  row('0/0/child', '__quiet_child_until_hitl2', 'state_machine'),
  row('0/0/child/child@1', 'quiet_child:child'),
  row('0/0/child/child@1/0', '__quiet_child_fresh0'),
  row('0/0/child/child@1/2', 'ask_in_parallel'),
  row('0/0/child/child@1/2/0', 'fan', 'parallel'),
  row('0/0/child/child@1/2/0/asks', 'question', 'hitl'),
  row('0/0/child/stopped@2', '__quiet_child_stopped3'),
  row('1', 'after', 'step'),
];

const internal = (steps: NamedStep[]) =>
  [...stepVisibility(steps)].filter(([, v]) => v.internal).map(([p]) => p);
const hidden = (steps: NamedStep[]) =>
  [...stepVisibility(steps)].filter(([, v]) => v.hidden).map(([p]) => p);

describe('stepVisibility', () => {
  it("marks the loader's __ helpers and an import's <step>:<alias> wrapper, not the user's steps", () => {
    expect(internal(quiet).sort()).toEqual([
      '0/0',
      '0/0/child',
      '0/0/child/child@1',
      '0/0/child/child@1/0',
      '0/0/child/stopped@2',
    ]);
  });

  it('keeps a user step named with a colon that no import helper encloses', () => {
    expect(internal([row('0', 'review:final', 'step'), row('1', 'a:b')])).toEqual([]);
    // Under a helper of another step, a colon name is not that import's wrapper.
    expect(internal([row('0', '__other_import1', 'parallel'), row('0/c', 'mine:c')])).toEqual([
      '0',
    ]);
  });

  it("marks a sequence wrapping the user's step of the same name (context operations)", () => {
    const steps = [
      row('1', 'refine'),
      row('1/0', '__refine_stash1'),
      row('1/2', 'refine', 'loop'),
      row('1/2/body@1', 'improve', 'step'),
    ];
    expect(internal(steps)).toEqual(['1/0', '1']);
  });

  it('shows an engine step that failed by itself; hides those above a shown failure', () => {
    const steps = [
      row('0', 'load'),
      row('0/0', '__load_import1', 'parallel', true),
      row('0/0/c', 'load:c', 'sequence', true),
      row('0/0/c/0', '__load_set2', 'sequence', true),
      row('1', 'after', 'step'),
    ];
    // The failure began at __load_set2: it stays; the wrappers that only pass it up go.
    expect(hidden(steps).sort()).toEqual(['0/0', '0/0/c']);
    // A user step below that failed carries it instead: every engine step is hidden.
    const user = [...steps.slice(0, 3), row('0/0/c/1', 'fetch', 'step', true)];
    expect(hidden(user).sort()).toEqual(['0/0', '0/0/c']);
    expect(stepVisibility(user).get('0/0/c/1')).toEqual({ internal: false, hidden: false });
  });
});

describe('lens trace text over a recorded run', () => {
  const h = harness();
  const plan = definePipeline(
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
  let root: Span;
  const text = (all: boolean) =>
    renderTrace(root, { previewLen: 0, paint: (_s, t) => t, all }).split('\n');

  beforeAll(async () => {
    await initFastHash();
    await h.engine.run(plan, 'x', { runId: 'ef' });
    root = buildTrace(await readRunEvents(h.ledger, 'ef'));
  });

  it('leaves out engine steps with a count line, but not the one that failed the run', () => {
    const lines = text(false);
    expect(lines[0]).toMatch(/^✗ run ef \(engine_fails\)/);
    expect(lines).toContainEqual(expect.stringMatching(/^├─ ✓ first \[step\]/));
    expect(lines).toContainEqual(expect.stringMatching(/^└─ ✗ __first_set2 \[step\]/));
    expect(lines).toContainEqual('     ✗ attempt 1: SET_FAILED import_artifacts is not an object');
    expect(lines.join('\n')).not.toContain('__first_stash0');
    expect(lines.join('\n')).not.toContain('__first_copy1');
    expect(lines.at(-1)).toBe('(+2 engine steps; --all to show them)');
  });

  it('--all shows every span and no count line; the JSON marks each step span', () => {
    const lines = text(true).join('\n');
    expect(lines).toContain('__first_stash0 [parallel]');
    expect(lines).toContain('__first_copy1 [step]');
    expect(lines).not.toContain('engine step');
    const flat = (s: Span): Span[] => [s, ...s.children.flatMap(flat)];
    const marks = Object.fromEntries(
      flat(root)
        .slice(1)
        .map((s) => [s.name, s.attributes['flujo.step.internal']]),
    );
    expect(marks).toEqual({
      first: false,
      __first_stash0: true,
      __first_copy1: true,
      __first_set2: true,
    });
    expect(root.attributes['flujo.step.internal']).toBeUndefined();
  });
});

describe('rowVisibility: a step is seen by its last attempt', () => {
  const attempt = (n: number, status: string) => ({
    path: '0/0',
    name: '__engine_copy0',
    kind: 'step',
    attempt: n,
    status,
    errorCode: status === 'failed' ? 'STEP_ERROR' : null,
  });
  const parent = {
    path: '0',
    name: 'user',
    kind: 'step',
    attempt: 1,
    status: 'completed',
    errorCode: null,
  };

  it('keeps an engine step hidden when an attempt that failed was tried again and completed', () => {
    const seen = rowVisibility([parent, attempt(1, 'failed'), attempt(2, 'completed')]);
    expect(seen.get('0/0')).toEqual({ internal: true, hidden: true });
  });

  it('shows an engine step whose last attempt failed', () => {
    const seen = rowVisibility([parent, attempt(1, 'failed'), attempt(2, 'failed')]);
    expect(seen.get('0/0')).toEqual({ internal: true, hidden: false });
  });
});
