/* global window, URLSearchParams */
// The run list: status counts that filter, a pipeline filter, an id search, pages of 50.
import {
  api,
  badge,
  clear,
  DAMAGE,
  debounce,
  enc,
  errorBox,
  h,
  ms,
  shortId,
  time,
  tokens,
  usd,
} from './dom.js';

const STATUSES = ['running', 'paused', 'completed', 'failed', 'cancelled'];
const PAGE = 50;

function hrefWith(params, changes) {
  const p = new URLSearchParams(params);
  for (const [k, v] of Object.entries(changes)) {
    if (v === undefined || v === '' || v === null) p.delete(k);
    else p.set(k, String(v));
  }
  const q = p.toString();
  return '#/' + (q ? '?' + q : '');
}

export async function runsView(main, _arg, params) {
  const status = params.get('status') ?? '';
  const pipeline = params.get('pipeline') ?? '';
  const q = params.get('q') ?? '';
  const offset = Number(params.get('offset') ?? 0) || 0;

  const chips = h('div', { class: 'chips' });
  const table = h('div', { class: 'table-wrap' });
  const pager = h('div', { class: 'pager' });
  const filters = h(
    'form',
    {
      class: 'filters',
      onsubmit: (ev) => {
        ev.preventDefault();
        const f = new window.FormData(ev.target);
        window.location.hash = hrefWith(params, {
          pipeline: f.get('pipeline'),
          q: f.get('q'),
          offset: undefined,
        });
      },
    },
    h('input', {
      name: 'pipeline',
      placeholder: 'pipeline name',
      value: pipeline,
      'aria-label': 'pipeline',
    }),
    h('input', {
      name: 'q',
      placeholder: 'run id prefix',
      value: q,
      'aria-label': 'run id prefix',
    }),
    h('button', { type: 'submit' }, 'Filter'),
  );
  clear(main, h('div', { class: 'bar' }, h('h1', {}, 'Runs'), filters), chips, table, pager);

  async function load() {
    const query =
      'runs?limit=' +
      PAGE +
      '&offset=' +
      offset +
      (status ? '&status=' + enc(status) : '') +
      (pipeline ? '&pipeline=' + enc(pipeline) : '') +
      (q ? '&q=' + enc(q) : '');
    let data;
    try {
      data = await api(query);
    } catch (e) {
      clear(table, errorBox(e));
      return;
    }
    const total = STATUSES.reduce((n, s) => n + (data.counts[s] ?? 0), 0);
    clear(
      chips,
      h(
        'a',
        {
          class: 'chip' + (status ? '' : ' active'),
          href: hrefWith(params, { status: '', offset: '' }),
        },
        'all ',
        h('b', {}, total),
      ),
      STATUSES.map((s) =>
        h(
          'a',
          {
            class: 'chip c-' + s + (status === s ? ' active' : ''),
            href: hrefWith(params, { status: s, offset: '' }),
          },
          s + ' ',
          h('b', {}, data.counts[s] ?? 0),
        ),
      ),
    );
    if (data.runs.length === 0) {
      clear(
        table,
        h('p', { class: 'muted empty-state' }, 'No runs match. Start one with: flujo run'),
      );
    } else {
      clear(
        table,
        h(
          'table',
          { class: 'runs' },
          h(
            'thead',
            {},
            h(
              'tr',
              {},
              [
                'Run',
                'Pipeline',
                'Status',
                'Started',
                'Duration',
                'Cost',
                'Tokens in / out',
                'Input',
              ].map((c) => h('th', {}, c)),
            ),
          ),
          h(
            'tbody',
            {},
            data.runs.map((r) =>
              h(
                'tr',
                { 'data-run': r.runId },
                h(
                  'td',
                  {},
                  h(
                    'a',
                    { class: 'mono', href: '#/runs/' + enc(r.runId), title: r.runId },
                    shortId(r.runId),
                  ),
                ),
                h('td', {}, r.pipeline),
                h(
                  'td',
                  {},
                  badge(r.status),
                  // A row the ledger no longer records: what the read models kept (ADR 130).
                  r.damaged
                    ? h(
                        'div',
                        {
                          class: 'verify bad',
                          title: DAMAGE[r.damaged]?.why(r.runId) ?? r.damaged,
                        },
                        DAMAGE[r.damaged]?.label ?? '✗ damaged in the ledger',
                      )
                    : null,
                  r.status === 'paused' && r.pauseMessage
                    ? h('div', { class: 'hint' }, r.pauseMessage)
                    : null,
                ),
                h('td', { class: 'nowrap' }, time(r.startedAt)),
                h(
                  'td',
                  { class: 'num' },
                  ms(r.durationMs ?? (r.status === 'running' ? Date.now() - r.startedAt : null)),
                ),
                h('td', { class: 'num' }, usd(r.costMicros)),
                h('td', { class: 'num' }, tokens(r.tokensIn, r.tokensOut)),
                h('td', { class: 'preview' }, r.inputPreview),
              ),
            ),
          ),
        ),
      );
    }
    clear(
      pager,
      offset > 0
        ? h(
            'a',
            { href: hrefWith(params, { offset: Math.max(0, offset - PAGE) || '' }) },
            '← newer',
          )
        : null,
      h(
        'span',
        { class: 'muted' },
        data.runs.length ? offset + 1 + '–' + (offset + data.runs.length) : '',
      ),
      data.more ? h('a', { href: hrefWith(params, { offset: offset + PAGE }) }, 'older →') : null,
    );
  }

  await load();
  const reload = debounce(load, 400);
  return { onRecord: () => reload(), dispose: () => reload.cancel() };
}
