/* global window */
// Paused runs waiting for a person, each with its generated form.
import { api, clear, debounce, enc, errorBox, h, shortId, time } from './dom.js';
import { hitlForm } from './form.js';

export async function inboxView(main) {
  const list = h('div', { class: 'inbox' });
  clear(main, h('div', { class: 'bar' }, h('h1', {}, 'Inbox')), list);
  let shown = '';

  async function load() {
    let items;
    try {
      ({ items } = await api('hitl?status=pending'));
    } catch (e) {
      clear(list, errorBox(e));
      return;
    }
    // Re-render only when the set of questions changed, so a half-filled form survives updates.
    const key = items.map((i) => i.runId + '|' + i.path).join(',');
    if (key === shown) return;
    shown = key;
    if (items.length === 0) {
      clear(list, h('p', { class: 'muted empty-state' }, 'Nothing is waiting for a person.'));
      return;
    }
    clear(
      list,
      items.map((item) =>
        h(
          'div',
          { class: 'card pause', 'data-run': item.runId },
          h(
            'div',
            { class: 'bar' },
            h('h2', {}, item.step),
            h(
              'a',
              { class: 'mono', href: '#/runs/' + enc(item.runId) },
              'run ' + shortId(item.runId),
            ),
          ),
          h('p', { class: 'message' }, item.message),
          h('p', { class: 'muted' }, 'asked ' + time(item.requestedAt)),
          hitlForm(item, () => (window.location.hash = '#/runs/' + enc(item.runId))),
        ),
      ),
    );
  }

  await load();
  const reload = debounce(load, 400);
  return { onRecord: () => reload(), dispose: () => reload.cancel() };
}
