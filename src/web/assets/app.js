/* global document, window, EventSource, URLSearchParams, setTimeout, clearTimeout */
// The web lens: a hash-routed single page over the JSON API. One EventSource feeds every view;
// a view re-reads what it shows when a record of interest is committed.
import { api, clear, errorBox } from './dom.js';
import { costsView } from './costs.js';
import { inboxView } from './inbox.js';
import { runView } from './run.js';
import { runsView } from './runs.js';

const main = document.getElementById('main');
let current = null;

/**
 * The run id of `#/runs/ID`. A malformed %-escape (`#/runs/%E0%A4%A`) made decodeURIComponent
 * throw before the page was drawn: it stayed on Loading…. Now the view says so.
 */
function runIdOf(raw) {
  try {
    return decodeURIComponent(raw);
  } catch {
    return new Error('#/runs/' + raw + ' names no run: its %-escapes are not valid UTF-8');
  }
}

function route() {
  const hash = window.location.hash.replace(/^#/, '') || '/';
  const [path, query] = hash.split('?');
  const params = new URLSearchParams(query ?? '');
  const run = /^\/runs\/([^/]+)$/.exec(path);
  if (run) return { name: 'runs', view: runView, arg: runIdOf(run[1]), params };
  if (path === '/inbox') return { name: 'inbox', view: inboxView, params };
  if (path === '/costs') return { name: 'costs', view: costsView, params };
  return { name: 'runs', view: runsView, params };
}

async function show() {
  current?.dispose?.();
  current = null;
  const r = route();
  for (const a of document.querySelectorAll('[data-nav]')) {
    a.classList.toggle('active', a.dataset.nav === r.name);
  }
  clear(main);
  try {
    if (r.arg instanceof Error) throw r.arg;
    current = await r.view(main, r.arg, r.params);
  } catch (e) {
    clear(main, errorBox(e));
  }
}

async function refreshInboxCount() {
  try {
    const { items } = await api('hitl?status=pending');
    document.getElementById('inbox-count').textContent = items.length ? String(items.length) : '';
  } catch {
    // the count is a hint; the inbox page reports errors
  }
}

let inboxTimer = null;
function connectLive() {
  const dot = document.getElementById('live');
  const source = new EventSource('api/events');
  source.addEventListener('open', () => {
    dot.textContent = 'live';
    dot.classList.add('on');
    // Records committed while disconnected were not seen: re-read.
    current?.onRecord?.(null);
    refreshInboxCount();
  });
  source.addEventListener('error', () => {
    dot.textContent = 'reconnecting';
    dot.classList.remove('on');
  });
  source.addEventListener('record', (ev) => {
    const frame = JSON.parse(ev.data);
    current?.onRecord?.(frame);
    if (/^(HumanInput|RunPaused|Run(Completed|Failed|Cancelled))/.test(frame.type)) {
      clearTimeout(inboxTimer);
      inboxTimer = setTimeout(refreshInboxCount, 300);
    }
  });
}

window.addEventListener('hashchange', show);
show();
refreshInboxCount();
connectLive();
