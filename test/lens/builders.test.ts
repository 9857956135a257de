/**
 * The lens builders over real recorded runs (the engine on an in-memory ledger): the trace tree,
 * the audit report and its renderings, the export format and its verifier, `--since`.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';

import {
  agentStep,
  conditional,
  definePipeline,
  hitl,
  loop,
  map,
  parallel,
  sequence,
  step,
} from '../../src/dsl/builder.js';
import { initFastHash } from '../../src/events/chain.js';
import { decodeCanonical, encodeCanonical } from '../../src/events/codec.js';
import { readRunEvents, readRunRecords } from '../../src/lens/events.js';
import { decodeExport, encodeExport, verifyExport } from '../../src/lens/exportFile.js';
import { buildReport } from '../../src/lens/report.js';
import { esc, reportHtml, reportMarkdown } from '../../src/lens/reportRender.js';
import { parseSince } from '../../src/lens/since.js';
import { buildTrace, type Span } from '../../src/lens/trace.js';
import { renderTrace } from '../../src/lens/traceText.js';
import { verifyStoredRun } from '../../src/runtime/verifyLedger.js';
import { harness, scriptedAgents } from '../support/given.js';

const plan = definePipeline(
  'probe',
  sequence(
    step('prep', (x: number) => x + 1),
    agentStep('ask', 'openai:gpt-4o-mini', { retries: 1 }),
    conditional('route', () => 'a', { a: step('A', () => 'A'), b: step('B', () => 'B') }),
    loop(
      'rep',
      step('inc', (x: unknown) => (typeof x === 'number' ? x + 1 : 1)),
      { maxLoops: 2 },
    ),
    parallel('par', { l: step('L', () => 1), r: step('R', () => 2) }),
    map(
      'each',
      step('sq', (x: number) => x * x),
      { items: () => [1, 2] },
    ),
    agentStep('risky', 'bad:x', { fallback: step('fb', () => '<b>fallback</b>') }),
    hitl('approve', { message: 'Ship <it>?', schema: z.object({ ok: z.boolean() }) }),
    step('end', (x: unknown) => x),
  ),
).plan;

const { port } = scriptedAgents({
  'openai:gpt-4o-mini': (i, attempt) => {
    if (attempt === 1) throw Object.assign(new Error('flaky'), { retryable: true });
    return `llm(${JSON.stringify(i)})`;
  },
  'bad:x': () => {
    throw Object.assign(new Error('nope'), { retryable: false });
  },
});
const h = harness({ agents: port });

const find = (s: Span, name: string): Span | undefined =>
  s.name === name ? s : s.children.map((c) => find(c, name)).find(Boolean);

beforeAll(async () => {
  await initFastHash();
  await h.engine.run(plan, 1, { runId: 'r1' });
});

describe('buildTrace', () => {
  it('nests every step under its scheduled ancestor and marks the pause', async () => {
    const root = buildTrace(await readRunEvents(h.ledger, 'r1'));
    expect(root.name).toBe('pipeline_run');
    expect(root.attributes['flujo.run.status']).toBe('paused');
    expect(root.children.map((c) => c.span_id)).toEqual(['0', '1', '2', '3', '4', '5', '6', '7']);
    expect(find(root, 'par')?.children.map((c) => c.span_id)).toEqual(['4/l', '4/r']);
    expect(find(root, 'each')?.children.map((c) => c.attributes['flujo.loop.iteration'])).toEqual([
      1, 2,
    ]);
    const approve = find(root, 'approve');
    expect(approve?.status).toBe('running');
    expect(approve?.events.map((e) => e.name)).toEqual(['flujo.paused']);
  });

  it('records retries, fallbacks and costs on the spans they belong to', async () => {
    const root = buildTrace(await readRunEvents(h.ledger, 'r1'));
    const ask = find(root, 'ask') as Span;
    expect(ask.attributes).toMatchObject({
      'flujo.retries': 1,
      'flujo.attempt_number': 2,
      'flujo.model': 'openai:gpt-4o-mini',
    });
    expect(ask.events.filter((e) => e.name === 'flujo.retry')).toMatchObject([
      { attributes: { reason: 'flaky', attempt: 2 } },
    ]);
    const risky = find(root, 'risky') as Span;
    expect(risky.events).toContainEqual(
      expect.objectContaining({
        name: 'flujo.fallback.triggered',
        attributes: { original_error: 'nope' },
      }),
    );
    expect(risky.children).toMatchObject([{ name: 'fb', attributes: { 'flujo.fallback': true } }]);
    expect(root.attributes['flujo.budget.actual_cost_usd']).toBe(0.0015);
    expect(root.attributes['flujo.budget.actual_tokens']).toBe(15);
  });

  it('renders the tree with branch, iterations, retries and the pause', async () => {
    const text = renderTrace(buildTrace(await readRunEvents(h.ledger, 'r1')), {
      previewLen: 0,
      paint: (_s, t) => t,
    });
    expect(text).toMatch(/^⏸ run r1 \(probe\)/);
    expect(text).toMatch(/ask \[step\] .*\$0\.0015 15 tok openai:gpt-4o-mini retries=1/);
    expect(text).toContain('└─ ✓ fb [step]');
    expect(text).toContain('⏸ paused: Ship <it>?');
    expect(text).not.toContain('→');
  });
});

describe('buildReport', () => {
  it('lists every attempt with its prompt hash and the pending decision; renders escaped HTML', async () => {
    const report = buildReport(
      await readRunEvents(h.ledger, 'r1'),
      await verifyStoredRun(h.ledger, 'r1'),
    );
    expect(report.run.status).toBe('paused');
    const ask = report.steps.find((s) => s.name === 'ask');
    expect(ask?.attempts.map((a) => [a.attempt, a.error?.message ?? a.output])).toEqual([
      [1, 'flaky'],
      [2, 'llm(2)'],
    ]);
    expect(ask?.attempts[0]?.prompt_hash).toMatch(/^[0-9a-f]{64}$/);
    expect(report.decisions).toMatchObject([{ step: 'approve', status: 'pending' }]);
    expect(report.chain.verified).toBe(true);
    const html = reportHtml(report);
    expect(html).toContain('Ship &lt;it&gt;?');
    expect(html).toContain('&lt;b&gt;fallback&lt;/b&gt;');
    expect(html).not.toContain('<b>fallback');
    expect(reportMarkdown(report)).toContain('**pending**');
    expect(esc(`<a href="x" onclick='y'>&`)).toBe(
      '&lt;a href=&quot;x&quot; onclick=&#39;y&#39;&gt;&amp;',
    );
  });
});

describe('budget in the report and trace', () => {
  it('shows the run budget next to what was spent', async () => {
    const small = definePipeline(
      'budgeted',
      agentStep('ask', 'openai:gpt-4o-mini', { retries: 1 }),
    ).plan;
    await h.engine.run(small, 'q', { runId: 'b1', budget: { costMicros: 250_000, tokens: 1000 } });
    const events = await readRunEvents(h.ledger, 'b1');
    const report = buildReport(events, await verifyStoredRun(h.ledger, 'b1'));
    expect(report.budget).toEqual({
      limit_usd: 0.25,
      limit_tokens: 1000,
      spent_usd: 0.0015,
      tokens: { input: 10, output: 5 },
    });
    expect(reportMarkdown(report)).toContain('Cost: $0.0015 (limit $0.25)');
    expect(buildTrace(events).attributes).toMatchObject({
      'flujo.budget.initial_cost_usd': 0.25,
      'flujo.budget.initial_tokens': 1000,
    });
  });
});

describe('run export', () => {
  const exported = async () => encodeExport('r1', await readRunRecords(h.ledger, 'r1'), false);
  const rewrite = (
    bytes: Uint8Array,
    edit: (header: Record<string, unknown>, records: unknown[][]) => void,
  ) => {
    const [header, records] = decodeCanonical(bytes) as [Record<string, unknown>, unknown[][]];
    edit(header, records);
    return encodeCanonical([header, records] as never);
  };

  it('round-trips to the same bytes and verifies from genesis', async () => {
    const bytes = await exported();
    expect(encodeExport('r1', await readRunRecords(h.ledger, 'r1'), false)).toEqual(bytes);
    const v = verifyExport(decodeExport(bytes));
    expect(v).toMatchObject({ ok: true, runId: 'r1', headSeq: decodeExport(bytes).header.headSeq });
  });

  it('names the seq of a dropped, swapped or missing-tail record and a wrong head', async () => {
    const bytes = await exported();
    const dropped = verifyExport(decodeExport(rewrite(bytes, (_h, r) => r.splice(4, 1))));
    expect(dropped.failure).toMatchObject({ seq: 5, reason: 'gap' });
    const swapped = verifyExport(
      decodeExport(rewrite(bytes, (_h, r) => r.splice(3, 2, r[4] as unknown[], r[3] as unknown[]))),
    );
    expect(swapped.failure).toMatchObject({ seq: 4, reason: 'reorder' });
    const tail = verifyExport(decodeExport(rewrite(bytes, (_h, r) => r.pop())));
    expect(tail.ok).toBe(false);
    expect(tail.failure?.reason).toBe('truncated');
    const head = verifyExport(
      decodeExport(rewrite(bytes, (hd) => (hd.headHash = new Uint8Array(32)))),
    );
    expect(head.failure?.reason).toBe('head_mismatch');
  });

  it('refuses a file that is not an export, naming what is wrong', async () => {
    expect(() => decodeExport(new TextEncoder().encode('hello'))).toThrow(/not canonical CBOR/);
    const v2 = rewrite(await exported(), (hd) => (hd.version = 2));
    expect(() => decodeExport(v2)).toThrow(/format version 2; this Flujo reads version 1/);
    expect(() => decodeExport(encodeCanonical([{ format: 'x' }, []]))).toThrow(/format is not/);
  });
});

describe('parseSince', () => {
  const now = Date.parse('2025-11-24T12:00:00Z');
  it('reads durations back from now and ISO dates; rejects anything else', () => {
    expect(parseSince('2h', now)).toBe(now - 2 * 3600e3);
    expect(parseSince('3d', now)).toBe(now - 3 * 86400e3);
    expect(parseSince('90s', now)).toBe(now - 90e3);
    expect(parseSince('2025-11-01', now)).toBe(Date.parse('2025-11-01'));
    expect(parseSince('2025-11-01T10:00:00Z', now)).toBe(Date.parse('2025-11-01T10:00:00Z'));
    for (const bad of ['yesterday', '2h ago', '-1d', '2025-13-45', ''])
      expect(parseSince(bad, now)).toBeNull();
  });
});
