/** The text view of a trace: a box-drawing tree, one line per span with what matters at a glance. */
import { engineStepsLine, spanVisibility, stopped, visibilityOf } from './engineSteps.js';
import { duration, indentedMessage, inLine, MARK, preview, usd } from './format.js';
import type { Span } from './trace.js';

export interface TraceTextOptions {
  /** Characters of agent input/output shown per span; -1 shows them in full, 0 hides them. */
  readonly previewLen: number;
  readonly paint: (status: string, text: string) => string;
  /** Show the steps the engine made too; else they are counted in a last line (ADR 88). */
  readonly all?: boolean;
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

/** `leaf`: no child of the span is shown, so its own error is the one to say. */
function details(span: Span, o: TraceTextOptions, leaf: boolean): string[] {
  const lines: string[] = [];
  for (const e of span.events) {
    if (e.name === 'flujo.paused' && 'message' in e.attributes)
      lines.push(...indentedMessage('⏸ paused', String(e.attributes.message)).split('\n'));
    else if (e.name === 'flujo.resumed' && 'human_input' in e.attributes)
      lines.push(
        `▶ answered${e.attributes.by ? ` by ${inLine(String(e.attributes.by))}` : ''}: ${preview(e.attributes.human_input, o.previewLen)}`,
      );
    else if (e.name === 'flujo.cancelled')
      lines.push(
        `⊘ cancelled by ${e.attributes.by === null ? 'unknown' : inLine(String(e.attributes.by))}${e.attributes.reason === null ? '' : `: ${inLine(String(e.attributes.reason))}`}`,
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
    if (leaf) lines.push(`⊘ not asked: ${err?.message ?? ''}`);
  } else if (err && leaf && !lines.some((l) => l.startsWith('✗')))
    lines.push(`✗ ${err.code ?? ''} ${err.message ?? ''}`);
  return lines;
}

export function renderTrace(root: Span, o: TraceTextOptions): string {
  const seen = spanVisibility(root);
  let left = 0;
  // A step left out hands its children to the step above it, so the tree keeps their order.
  const shown = (span: Span): Span[] =>
    span.children.flatMap((c) => {
      if (o.all || !visibilityOf(seen, c.span_id).hidden) return [c];
      left++;
      return shown(c);
    });
  const out: string[] = [label(root, o)];
  const top = shown(root);
  for (const d of details(root, o, top.length === 0)) out.push(`  ${d}`);
  const walk = (children: Span[], prefix: string) => {
    children.forEach((child, i) => {
      const last = i === children.length - 1;
      out.push(`${prefix}${last ? '└─ ' : '├─ '}${label(child, o)}`);
      const inner = prefix + (last ? '   ' : '│  ');
      const below = shown(child);
      for (const d of details(child, o, below.length === 0))
        out.push(`${inner}${below.length ? '│ ' : '  '}${d}`);
      walk(below, inner);
    });
  };
  walk(top, '');
  if (left > 0) out.push(engineStepsLine(left));
  return out.join('\n');
}
