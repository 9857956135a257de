/* global document, fetch, Node, setTimeout, clearTimeout */
// DOM and formatting helpers. Every value from a run reaches the page as a text node or an
// attribute set through the DOM, never as HTML: an output holding <script> stays text.

export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs ?? {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') el.className = v;
    else if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (k === 'style' && typeof v === 'object') Object.assign(el.style, v);
    else if (k === 'value') el.value = v;
    else if (k === 'checked') el.checked = Boolean(v);
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children) {
    if (c === undefined || c === null || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else el.append(c instanceof Node ? c : String(c));
  }
}

export function clear(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

export class ApiError extends Error {
  constructor(status, body) {
    super(body?.error?.message ?? 'HTTP ' + status);
    this.status = status;
    this.code = body?.error?.code;
    this.reasons = body?.error?.reasons ?? [];
  }
}

/** Relative URLs only: the page works behind any prefix and never leaves its origin. */
export async function api(path, init) {
  const res = await fetch('api/' + path, {
    credentials: 'same-origin',
    ...init,
    headers: { accept: 'application/json', ...(init?.headers ?? {}) },
  });
  const body = await res.json().catch(() => null);
  if (!res.ok) throw new ApiError(res.status, body);
  return body;
}

export const enc = encodeURIComponent;

/** Why a run's read-model row is stale (`damaged` in /api/runs and /api/runs/:id; ADR 130). */
export const DAMAGE = {
  unrecorded: {
    label: '✗ not in the ledger',
    why: () =>
      'The ledger holds no head row of this run: the row is what the read models kept. Check it with: flujo lens verify --all',
  },
  no_start: {
    label: '✗ damaged in the ledger',
    why: (id) =>
      `The ledger holds no RunStarted at seq 1 of this run: the row is what the read models kept. Check it with: flujo lens verify ${id}`,
  },
};

/**
 * The API address of one run, relative to api/: `runs/ID` + `rest` (`/verify`) + `?query`. A run
 * whose id is `.` or `..` goes as `runs//rest?run=ID`, which the server reads as its id: a
 * browser drops such a path segment, written as %2E too (ADR 154).
 */
export function runApi(runId, rest = '', query = '') {
  const dots = runId === '.' || runId === '..';
  const q = [dots ? 'run=' + enc(runId) : '', query].filter(Boolean).join('&');
  return 'runs/' + (dots ? '' : enc(runId)) + rest + (q ? '?' + q : '');
}

export function usd(micros) {
  const d = (micros ?? 0) / 1e6;
  if (d === 0) return '$0';
  return d < 0.01 ? '$' + d.toFixed(6).replace(/0+$/, '') : '$' + d.toFixed(d < 1 ? 4 : 2);
}

export function ms(n) {
  if (n === null || n === undefined) return '—';
  if (n < 1000) return Math.round(n) + ' ms';
  if (n < 60_000) return (n / 1000).toFixed(n < 10_000 ? 2 : 1) + ' s';
  if (n < 3_600_000) return Math.floor(n / 60_000) + 'm ' + Math.round((n % 60_000) / 1000) + 's';
  return Math.floor(n / 3_600_000) + 'h ' + Math.round((n % 3_600_000) / 60_000) + 'm';
}

export function time(t) {
  if (!t) return '—';
  const d = new Date(t);
  const pad = (x) => String(x).padStart(2, '0');
  return (
    d.getFullYear() +
    '-' +
    pad(d.getMonth() + 1) +
    '-' +
    pad(d.getDate()) +
    ' ' +
    pad(d.getHours()) +
    ':' +
    pad(d.getMinutes()) +
    ':' +
    pad(d.getSeconds())
  );
}

export function tokens(i, o) {
  return (i ?? 0).toLocaleString('en') + ' / ' + (o ?? 0).toLocaleString('en');
}

export const shortId = (id) => (id.length > 12 ? id.slice(0, 8) : id);

export function badge(status) {
  return h('span', { class: 'badge s-' + status }, status);
}

/** Pretty-prints a preview when it is JSON, else shows it as it is. */
export function pre(text, cls) {
  if (text === null || text === undefined) return h('pre', { class: 'empty ' + (cls ?? '') }, '—');
  let shown = String(text);
  try {
    shown = JSON.stringify(JSON.parse(shown), null, 2);
  } catch {
    // a cut preview is not JSON any more: show it verbatim
  }
  return h('pre', { class: cls ?? '' }, shown);
}

export function errorBox(e) {
  return h('div', { class: 'error-box' }, h('strong', {}, e.code ?? 'Error'), ' ', e.message);
}

/** Runs `fn` at most once per `wait` ms, after the last call: bursts of records cost one fetch. */
export function debounce(fn, wait) {
  let timer = null;
  const run = (...args) => {
    clearTimeout(timer);
    timer = setTimeout(() => fn(...args), wait);
  };
  run.cancel = () => clearTimeout(timer);
  return run;
}
