// The trace tree (Flujo's trace contract v1, built by the server from the run's events).
import { api, clear, errorBox, h, ms, runApi } from './dom.js';

const ICON = { completed: '✓', failed: '✗', running: '…', cancelled: '⊘' };

// Trace contract v1 closes spans that did not fail by themselves as failed (ADR 46, 78): stopped
// by a cancel, left unfinished when an enclosing step ended (flujo.abandoned), or a hitl step that
// did not ask and the steps it stopped up to its import (HITL_NOT_PROPAGATED). Shown ⊘ with the
// reason, as `flujo lens trace` does, not as a failure of the step.
function statusOf(span) {
  const a = span.attributes ?? {};
  if (a['flujo.run.status'] === 'cancelled') return 'cancelled';
  if (span.status !== 'failed' || span.name === 'pipeline_run') return span.status;
  if (a['flujo.cancelled'] === true || a['flujo.abandoned'] !== undefined) return 'cancelled';
  return a['flujo.error']?.code === 'HITL_NOT_PROPAGATED' ? 'cancelled' : span.status;
}

/** Why a span shown ⊘ stopped, in the words of the text trace; null when it did not. */
function reasonOf(span) {
  const a = span.attributes ?? {};
  if (span.status !== 'failed' || span.name === 'pipeline_run') return null;
  const cause = a['flujo.abandoned'];
  if (cause !== undefined)
    return cause === '.'
      ? 'left unfinished: the run ended while it ran'
      : 'left unfinished: step ' + cause + ' ended while it ran';
  if (a['flujo.error']?.code === 'HITL_NOT_PROPAGATED')
    return 'not asked: ' + (a['flujo.error'].message ?? '');
  return null;
}

function node(span) {
  const dur = span.end_time ? Date.parse(span.end_time) - Date.parse(span.start_time) : null;
  const status = statusOf(span);
  return h(
    'li',
    { class: 'span sp-' + status },
    h(
      'span',
      { class: 'icon', role: 'img', 'aria-label': status, title: status },
      ICON[status] ?? '·',
    ),
    ' ',
    h('span', { class: 'sname' }, span.name),
    ' ',
    h('span', { class: 'muted' }, ms(dur)),
    reasonOf(span) ? h('span', { class: 'reason muted' }, ' · ' + reasonOf(span)) : null,
    span.events?.length
      ? h('span', { class: 'muted' }, ' · ' + span.events.map((e) => e.name).join(', '))
      : null,
    span.children?.length ? h('ul', {}, span.children.map(node)) : null,
  );
}

export async function traceTree(el, runId) {
  try {
    const root = await api(runApi(runId, '/trace'));
    clear(el, h('h2', {}, 'Trace'), h('ul', { class: 'tree' }, node(root)));
  } catch (e) {
    clear(el, h('h2', {}, 'Trace'), errorBox(e));
  }
}
