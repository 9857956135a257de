// The trace tree (Flujo's trace contract v1, built by the server from the run's events).
import { api, clear, errorBox, h, ms } from './dom.js';

const ICON = { completed: '✓', failed: '✗', running: '…', cancelled: '⊘' };

// Trace contract v1 closes spans a cancel left open as failed, marked flujo.cancelled (ADR 46):
// shown as cancelled, not as a failure of the step.
function statusOf(span) {
  const a = span.attributes ?? {};
  return a['flujo.cancelled'] === true || a['flujo.run.status'] === 'cancelled'
    ? 'cancelled'
    : span.status;
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
    span.events?.length
      ? h('span', { class: 'muted' }, ' · ' + span.events.map((e) => e.name).join(', '))
      : null,
    span.children?.length ? h('ul', {}, span.children.map(node)) : null,
  );
}

export async function traceTree(el, runId) {
  try {
    const root = await api('runs/' + encodeURIComponent(runId) + '/trace');
    clear(el, h('h2', {}, 'Trace'), h('ul', { class: 'tree' }, node(root)));
  } catch (e) {
    clear(el, h('h2', {}, 'Trace'), errorBox(e));
  }
}
