// Cost over time by model: one stacked bar per UTC day, a colour per model, and the totals.
import { api, clear, errorBox, h, usd } from './dom.js';

const COLOURS = [
  '#2563eb',
  '#f59e0b',
  '#10b981',
  '#ef4444',
  '#8b5cf6',
  '#0ea5e9',
  '#ec4899',
  '#84cc16',
];

export async function costsView(main, _arg, params) {
  const days = Number(params.get('days') ?? 14) || 14;
  const body = h('div', {});
  clear(
    main,
    h(
      'div',
      { class: 'bar' },
      h('h1', {}, 'Costs'),
      h(
        'div',
        { class: 'chips' },
        [7, 14, 30, 90].map((d) =>
          h(
            'a',
            { class: 'chip' + (d === days ? ' active' : ''), href: '#/costs?days=' + d },
            d + ' days',
          ),
        ),
      ),
    ),
    body,
  );
  let data;
  let totals;
  try {
    [data, totals] = await Promise.all([
      api('costs?by=model-day&days=' + days),
      api('costs?by=model'),
    ]);
  } catch (e) {
    clear(body, errorBox(e));
    return {};
  }
  const colour = new Map(data.models.map((m, i) => [m, COLOURS[i % COLOURS.length]]));
  const perDay = data.days.map((_, i) =>
    data.models.reduce((n, m) => n + data.cells[m][i].costMicros, 0),
  );
  const max = Math.max(1, ...perDay);
  clear(
    body,
    h(
      'div',
      { class: 'chart', role: 'img', 'aria-label': 'cost per day by model' },
      data.days.map((d, i) =>
        h(
          'div',
          { class: 'col', title: d + ': ' + usd(perDay[i]) },
          h(
            'div',
            { class: 'stack', style: { height: (perDay[i] / max) * 100 + '%' } },
            data.models.map((m) => {
              const c = data.cells[m][i].costMicros;
              return c > 0
                ? h('div', {
                    class: 'seg',
                    title: m + ' ' + usd(c),
                    style: { flexGrow: String(c), background: colour.get(m) },
                  })
                : null;
            }),
          ),
          h('span', { class: 'day' }, d.slice(5)),
        ),
      ),
    ),
    h(
      'div',
      { class: 'legend' },
      data.models.map((m) => h('span', {}, h('i', { style: { background: colour.get(m) } }), m)),
    ),
    h(
      'table',
      { class: 'runs' },
      h(
        'thead',
        {},
        h(
          'tr',
          {},
          ['Model', 'Calls', 'Tokens in', 'Tokens out', 'Cost'].map((c) => h('th', {}, c)),
        ),
      ),
      h(
        'tbody',
        {},
        totals.rows.map((r) =>
          h(
            'tr',
            {},
            h('td', { class: 'mono' }, r.key),
            h('td', { class: 'num' }, r.calls),
            h('td', { class: 'num' }, r.tokensIn.toLocaleString('en')),
            h('td', { class: 'num' }, r.tokensOut.toLocaleString('en')),
            h('td', { class: 'num' }, usd(r.costMicros)),
          ),
        ),
      ),
    ),
  );
  return {};
}
