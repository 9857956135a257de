/* global window */
// One run: summary, verification badge, a cancel control while it runs or waits, the pending
// question (answerable here), a waterfall of its steps with each step's input, output, error,
// cost and tokens, the trace tree and the raw events. Live: records of this run re-read the
// summary and steps.
import {
  api,
  badge,
  clear,
  DAMAGE,
  debounce,
  errorBox,
  h,
  ms,
  pre,
  runApi,
  time,
  tokens,
  usd,
} from './dom.js';
import { cancelControl } from './cancel.js';
import { hitlForm } from './form.js';
import { traceTree } from './trace.js';

const STEP_PAGE = 500;

function verifyBadge(el, runId) {
  clear(el, h('span', { class: 'verify pending' }, 'verifying…'));
  api(runApi(runId, '/verify')).then(
    (v) =>
      clear(
        el,
        v.ok
          ? h(
              'span',
              { class: 'verify ok', title: 'head ' + v.headHash },
              '✓ chain intact · ' + v.events + ' events',
            )
          : h(
              'span',
              { class: 'verify bad', title: v.failure?.detail ?? '' },
              // A run the read models list and the ledger does not hold (as `lens verify` says).
              v.failure?.reason === 'unrecorded'
                ? DAMAGE.unrecorded.label
                : '✗ tampered at seq ' + v.failure?.seq + ': ' + v.failure?.reason,
            ),
      ),
    (e) => clear(el, h('span', { class: 'verify bad' }, 'verify failed: ' + e.message)),
  );
}

function depthOf(path) {
  return path === '.' || path === '' ? 0 : path.split('/').filter(Boolean).length;
}

/** A step's indent: its depth, less the hidden steps above it when those are left out. */
function indentOf(s, showEngine) {
  return depthOf(s.path) - (showEngine ? 0 : (s.hiddenAbove ?? 0));
}

function waterfall(run, steps, open, showEngine) {
  const t0 = run.startedAt;
  const end = Math.max(
    run.endedAt ?? run.updatedAt,
    ...steps.map((s) => s.endedAt ?? run.updatedAt),
    t0 + 1,
  );
  const span = end - t0;
  return steps.map((s) => {
    const key = s.path + '#' + s.attempt;
    const left = Math.min(99.4, ((s.startedAt - t0) / span) * 100);
    const width = Math.max(0.6, (((s.endedAt ?? end) - s.startedAt) / span) * 100);
    const waiting = s.status === 'running' && run.status === 'paused';
    // An attempt that failed and was tried again: its own colour, not a failure's (as lens show).
    const retried = s.status === 'failed' && s.finalAttempt === false;
    const state = waiting ? 'waiting' : retried ? 'retried' : s.status;
    // Said in words where the bar's colour and the latency would not tell (not colour alone).
    const said = retried ? 'tried again' : waiting || s.status === 'cancelled' ? state : null;
    const details = h(
      'details',
      {
        class: 'step st-' + (retried ? 'retried' : s.status),
        open: open.has(key) || (s.status === 'failed' && !retried),
        'data-key': key,
      },
      h(
        'summary',
        {},
        h(
          'span',
          { class: 'sname', style: { paddingLeft: indentOf(s, showEngine) * 14 + 'px' } },
          s.name,
          s.attempt > 1 ? h('small', {}, ' #' + s.attempt) : null,
        ),
        h(
          'span',
          { class: 'track' },
          h('span', {
            class: 'bar b-' + state,
            style: { left: left + '%', width: Math.min(width, 100 - left) + '%' },
          }),
        ),
        h(
          'span',
          { class: 'num' },
          said ?? ms(s.latencyMs ?? (s.endedAt ? s.endedAt - s.startedAt : null)),
        ),
        h('span', { class: 'num' }, usd(s.costMicros)),
      ),
      h(
        'div',
        { class: 'step-body' },
        h(
          'dl',
          { class: 'facts' },
          h('dt', {}, 'path'),
          h('dd', { class: 'mono' }, s.path),
          h('dt', {}, 'kind'),
          h('dd', {}, s.kind),
          h('dt', {}, 'status'),
          h(
            'dd',
            {},
            badge(s.status),
            retried ? ' tried again' : s.rescuedBy ? ' by its fallback ' + s.rescuedBy : null,
          ),
          s.model ? [h('dt', {}, 'model'), h('dd', { class: 'mono' }, s.model)] : null,
          h('dt', {}, 'tokens in / out'),
          h('dd', {}, tokens(s.tokensIn, s.tokensOut)),
          h('dt', {}, 'cost'),
          h('dd', {}, usd(s.costMicros)),
          s.retries ? [h('dt', {}, 'retries'), h('dd', {}, s.retries)] : null,
          h('dt', {}, 'started'),
          h('dd', {}, time(s.startedAt)),
        ),
        s.errorCode || s.errorMessage
          ? h(
              'div',
              { class: 'error-box' },
              h('strong', {}, s.errorCode ?? 'error'),
              ' ',
              s.errorMessage ?? '',
            )
          : null,
        h(
          'div',
          { class: 'io' },
          h('div', {}, h('h4', {}, 'Input'), pre(s.inputPreview, 'step-input')),
          h('div', {}, h('h4', {}, 'Output'), pre(s.outputPreview, 'step-output')),
        ),
      ),
    );
    details.addEventListener('toggle', () => (details.open ? open.add(key) : open.delete(key)));
    return details;
  });
}

export async function runView(main, runId) {
  const open = new Set();
  let stepOffset = 0;
  // Steps the engine made (ADR 88) are left out unless asked for, and counted.
  let showEngine = false;
  let pauseKey = null;
  let cancelBox = null;
  const head = h('section', { class: 'run-head' });
  const verify = h('span', { class: 'verify-slot' });
  const cancel = h('section', { class: 'cancel-slot' });
  const pause = h('section', { class: 'pause-slot' });
  const steps = h('section', { class: 'steps' });
  const trace = h('section', { class: 'trace' });
  const events = h('section', { class: 'events' });
  clear(main, head, cancel, pause, steps, trace, events);

  // What the page shows: a live re-read (`quiet`) that finds the run as shown leaves the page
  // as it is, so the connection's first open does not render the run a second time.
  let shown = null;
  async function load(quiet = false) {
    let data;
    try {
      data = await api(runApi(runId, '', 'stepLimit=' + STEP_PAGE + '&stepOffset=' + stepOffset));
    } catch (e) {
      shown = null;
      clear(head, errorBox(e));
      return true;
    }
    const r = data.run;
    const seen = [r.headSeq, r.status, r.damaged, stepOffset, showEngine].join('|');
    if (quiet && seen === shown) return false;
    shown = seen;
    clear(
      head,
      h('div', { class: 'bar' }, h('h1', {}, r.pipeline, ' ', badge(r.status)), verify),
      h('div', { class: 'mono muted', id: 'run-id' }, r.runId),
      // What `flujo lens show` refuses to present (ADR 124): said first, above what the read
      // models kept of the run.
      r.damaged
        ? h(
            'div',
            { class: 'error-box big damaged' },
            h('strong', {}, DAMAGE[r.damaged]?.label ?? '✗ damaged in the ledger'),
            ' ',
            (DAMAGE[r.damaged]?.why(r.runId) ?? r.damaged) +
              ' What this page shows of it is not the ledger’s record; flujo lens show refuses it.',
          )
        : null,
      h(
        'div',
        { class: 'stats' },
        stat('started', time(r.startedAt)),
        stat('duration', ms(r.durationMs ?? Date.now() - r.startedAt)),
        stat('cost', usd(r.costMicros)),
        stat('tokens in / out', tokens(r.tokensIn, r.tokensOut)),
        stat('events', r.headSeq),
        stat('steps', data.stepsTotal),
      ),
      r.status === 'failed'
        ? h(
            'div',
            { class: 'error-box big' },
            h('strong', {}, r.errorCode ?? 'failed'),
            ' ',
            r.errorMessage ?? '',
          )
        : null,
      h(
        'div',
        { class: 'io' },
        h('div', {}, h('h4', {}, 'Run input'), pre(r.inputPreview, 'run-input')),
        h('div', {}, h('h4', {}, 'Run output'), pre(r.outputPreview, 'run-output')),
      ),
    );
    // Built once while the run can be cancelled, so live reloads keep a half-typed reason; a
    // refusal (the run ended first) stays until it is closed.
    // A damaged run is neither cancelled nor answered here, as the CLI refuses both.
    const cancellable = !r.damaged && (r.status === 'running' || r.status === 'paused');
    if (cancellable && !cancelBox) {
      cancelBox = cancelControl(
        runId,
        () => load(),
        () => {
          cancelBox = null;
          clear(cancel);
          load();
        },
      );
      clear(cancel, cancelBox);
    } else if (!cancellable && cancelBox && !cancelBox.refused) {
      cancelBox = null;
      clear(cancel);
    }
    const pending = data.hitl.find((x) => x.status === 'pending');
    const key = !r.damaged && r.status === 'paused' && pending ? pending.path : null;
    if (key !== pauseKey) {
      pauseKey = key;
      clear(
        pause,
        key
          ? h(
              'div',
              { class: 'card pause' },
              h('h2', {}, 'Waiting for a person at ', h('span', { class: 'mono' }, pending.step)),
              h('p', { class: 'message' }, pending.message),
              hitlForm(pending, () => load()),
            )
          : null,
      );
    }
    const more = stepOffset + data.steps.length < data.stepsTotal;
    const engine = data.steps.filter((s) => s.hidden).length;
    const listed = showEngine ? data.steps : data.steps.filter((s) => !s.hidden);
    clear(
      steps,
      h('h2', {}, 'Steps'),
      h(
        'div',
        { class: 'wf-head' },
        h('span', {}, 'step'),
        h('span', {}, 'timeline'),
        h('span', { class: 'num' }, 'latency'),
        h('span', { class: 'num' }, 'cost'),
      ),
      waterfall(r, listed, open, showEngine),
      engine > 0
        ? h(
            'p',
            { class: 'engine-steps muted' },
            (showEngine ? engine : '+' + engine) +
              (engine === 1 ? ' engine step' : ' engine steps') +
              (showEngine ? ' shown ' : ' '),
            h(
              'button',
              { class: 'engine-toggle', onclick: () => ((showEngine = !showEngine), load()) },
              showEngine ? 'hide them' : 'show them',
            ),
          )
        : null,
      stepOffset > 0 || more
        ? h(
            'div',
            { class: 'pager' },
            stepOffset > 0
              ? h(
                  'button',
                  { onclick: () => ((stepOffset -= STEP_PAGE), load()) },
                  '← earlier steps',
                )
              : null,
            h(
              'span',
              { class: 'muted' },
              stepOffset + 1 + '–' + (stepOffset + data.steps.length) + ' of ' + data.stepsTotal,
            ),
            more
              ? h('button', { onclick: () => ((stepOffset += STEP_PAGE), load()) }, 'later steps →')
              : null,
          )
        : null,
    );
    return true;
  }

  await load();
  verifyBadge(verify, runId);
  clear(
    trace,
    h('h2', {}, 'Trace'),
    h('button', { onclick: () => traceTree(trace, runId) }, 'Show trace tree'),
  );
  clear(
    events,
    h('h2', {}, 'Events'),
    h('button', { onclick: () => eventPage(events, runId, 1) }, 'Show events'),
    ' ',
    h(
      'a',
      { href: 'api/' + runApi(runId, '/events', 'limit=2000'), download: runId + '.json' },
      'download JSON',
    ),
  );
  const reload = debounce(async () => {
    if (await load(true)) verifyBadge(verify, runId);
  }, 250);
  return {
    onRecord: (frame) => {
      if (!frame || frame.runId === runId) reload();
    },
    dispose: () => reload.cancel(),
  };
}

function stat(label, value) {
  return h('div', { class: 'stat' }, h('span', {}, label), h('b', {}, value));
}

async function eventPage(el, runId, fromSeq) {
  const data = await api(runApi(runId, '/events', 'fromSeq=' + fromSeq + '&limit=200'));
  const last = data.events[data.events.length - 1];
  clear(
    el,
    h('h2', {}, 'Events'),
    h(
      'table',
      { class: 'events-table' },
      h(
        'tbody',
        {},
        data.events.map((e) =>
          h(
            'tr',
            {},
            h('td', { class: 'num' }, e.seq),
            h('td', { class: 'nowrap' }, time(e.at)),
            h('td', {}, e.type),
            h('td', {}, h('code', {}, JSON.stringify(e.data).slice(0, 400))),
          ),
        ),
      ),
    ),
    h(
      'div',
      { class: 'pager' },
      fromSeq > 1
        ? h(
            'button',
            { onclick: () => eventPage(el, runId, Math.max(1, fromSeq - 200)) },
            '← earlier',
          )
        : null,
      last && last.seq < data.headSeq
        ? h('button', { onclick: () => eventPage(el, runId, last.seq + 1) }, 'later →')
        : null,
      h('span', { class: 'muted' }, 'of ' + data.headSeq),
    ),
  );
  window.scrollTo?.(0, el.offsetTop);
}
