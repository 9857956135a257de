/** The text view of a trace: a box-drawing tree, one line per span with what matters at a glance. */
import { HITL_NOT_PROPAGATED } from '../actors/vocabulary.js';
import { duration, MARK, preview, usd } from './format.js';
import type { Span } from './trace.js';

export interface TraceTextOptions {
  /** Characters of agent input/output shown per span; -1 shows them in full, 0 hides them. */
  readonly previewLen: number;
  readonly paint: (status: string, text: string) => string;
}

/**
 * Why a span that ended `failed` did not fail by itself (ADR 46, 78): left unfinished when a step
 * enclosing it ended, stopped by a cancel, or a hitl step that did not ask (and the steps it
 * stopped up to its import). The JSON keeps `failed`; the text marks them ⊘, as lens show does.
 */
function stopped(span: Span): 'abandoned' | 'cancelled' | 'not asked' | undefined {
  const a = span.attributes;
  if (span.status !== 'failed' || span.name === 'pipeline_run') return undefined;
  if (a['flujo.abandoned'] !== undefined) return 'abandoned';
  if (a['flujo.cancelled'] === true) return 'cancelled';
  const err = a['flujo.error'] as { code?: string } | undefined;
  return err?.code === HITL_NOT_PROPAGATED ? 'not asked' : undefined;
}

function label(span: Span, o: TraceTextOptions): string {
  const a = span.attributes;
  const status =
    span.name === 'pipeline_run'
      ? String(a['flujo.run.status'])
      : span.events.some((e) => e.name === 'flujo.paused') && span.status === 'running'
        ? 'paused'
        : stopped(span)
          ? 'cancelled'
          : span.status;
  const ms = span.end_time ? Date.parse(span.end_time) - Date.parse(span.start_time) : null;
  const bits = [
    o.paint(status, MARK[status] ?? '?'),
    span.name === 'pipeline_run'
      ? `run ${String(a['flujo.run_id'])} (${String(a['flujo.pipeline.name'])})`
      : span.name,
    span.name === 'pipeline_run' ? '' : `[${String(a['flujo.step.type'])}]`,
    duration(ms),
  ];
  const cost = Number(a['flujo.budget.actual_cost_usd'] ?? 0);
  if (cost > 0) bits.push(usd(Math.round(cost * 1e6)));
  const tokens = Number(a['flujo.budget.actual_tokens'] ?? 0);
  if (tokens > 0) bits.push(`${tokens} tok`);
  if (a['flujo.model'] && !String(a['flujo.model']).startsWith('fn:'))
    bits.push(String(a['flujo.model']));
  if (a['flujo.retries']) bits.push(`retries=${String(a['flujo.retries'])}`);
  if (a['flujo.fallback']) bits.push('fallback');
  if (a['flujo.branch'] !== undefined) bits.push(`branch=${String(a['flujo.branch'])}`);
  if (a['flujo.loop.iterations'] !== undefined)
    bits.push(`iterations=${String(a['flujo.loop.iterations'])}`);
  if (a['flujo.loop.iteration'] !== undefined) bits.push(`#${String(a['flujo.loop.iteration'])}`);
  return bits.filter(Boolean).join(' ');
}

function details(span: Span, o: TraceTextOptions): string[] {
  const lines: string[] = [];
  for (const e of span.events) {
    if (e.name === 'flujo.paused' && 'message' in e.attributes)
      lines.push(`⏸ paused: ${String(e.attributes.message)}`);
    else if (e.name === 'flujo.resumed' && 'human_input' in e.attributes)
      lines.push(
        `▶ answered${e.attributes.by ? ` by ${String(e.attributes.by)}` : ''}: ${preview(e.attributes.human_input, o.previewLen)}`,
      );
    else if (e.name === 'flujo.retry') lines.push(`↻ retry: ${String(e.attributes.reason)}`);
    else if (e.name === 'agent.error')
      lines.push(
        `✗ attempt ${String(e.attributes.attempt)}: ${String(e.attributes.code)} ${String(e.attributes.message)}`,
      );
    else if (o.previewLen !== 0 && e.name === 'agent.input')
      lines.push(`→ ${preview(e.attributes.input, o.previewLen)}`);
    else if (o.previewLen !== 0 && e.name === 'agent.response')
      lines.push(`← ${preview(e.attributes.output, o.previewLen)}`);
  }
  const err = span.attributes['flujo.error'] as { code?: string; message?: string } | undefined;
  const why = stopped(span);
  const cause = span.attributes['flujo.abandoned'];
  if (why === 'abandoned')
    lines.push(
      cause === '.'
        ? '⊘ left unfinished: the run ended while it ran'
        : `⊘ left unfinished: step ${String(cause)} ended while it ran`,
    );
  else if (why === 'not asked') {
    if (span.children.length === 0) lines.push(`⊘ not asked: ${err?.message ?? ''}`);
  } else if (err && span.children.length === 0 && !lines.some((l) => l.startsWith('✗')))
    lines.push(`✗ ${err.code ?? ''} ${err.message ?? ''}`);
  return lines;
}

export function renderTrace(root: Span, o: TraceTextOptions): string {
  const out: string[] = [label(root, o)];
  for (const d of details(root, o)) out.push(`  ${d}`);
  const walk = (span: Span, prefix: string) => {
    span.children.forEach((child, i) => {
      const last = i === span.children.length - 1;
      out.push(`${prefix}${last ? '└─ ' : '├─ '}${label(child, o)}`);
      const inner = prefix + (last ? '   ' : '│  ');
      for (const d of details(child, o))
        out.push(`${inner}${child.children.length ? '│ ' : '  '}${d}`);
      walk(child, inner);
    });
  };
  walk(root, '');
  return out.join('\n');
}
