/**
 * Markdown and HTML renderings of the audit report. The HTML is one self-contained file: inline
 * CSS, no script, no external fetch, and every value from the run passes through `esc`, so an
 * output holding `<script>` is shown, never run.
 */
import { engineStepsLine, stepVisibility } from './engineSteps.js';
import { named, type AuditReport, type ReportCancel, type ReportStep } from './report.js';
import { jsonText } from '../jsonText.js';

const json = (v: unknown) => jsonText(v, 2) ?? 'undefined';
const money = (d: number) => `$${d.toFixed(6).replace(/\.?0+$/, '') || '0'}`;

/**
 * Markdown text from the run (names, messages, who answered, errors) goes through `mdText` or `mdCode`:
 * line breaks fold to spaces, so no value can start a block (a forged `## Chain` heading), and
 * `mdText` escapes what Markdown and HTML act on inside a line, so `<img onerror>` or `[x](url)`
 * shows as typed. JSON values go in fences longer than any backtick run in them.
 */
const oneLine = (s: string) => s.replace(/[\p{Cc}\u2028\u2029]+/gu, ' ');
export const mdText = (s: string): string =>
  oneLine(s)
    .replace(/[\\`*[\]#|~]/g, '\\$&')
    // `_` inside a word (hash_altered) cannot open or close emphasis; elsewhere it can.
    .replace(/(?<![\p{L}\p{N}])_|_(?![\p{L}\p{N}])/gu, '\\_')
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;');
/** An inline code span that no backtick in `s` can close early (not for table cells: `|`). */
export const mdCode = (s: string): string => {
  const text = oneLine(s);
  const ticks = '`'.repeat(1 + Math.max(0, ...[...text.matchAll(/`+/g)].map((m) => m[0].length)));
  const pad = /^[` ]|[` ]$/.test(text) ? ' ' : '';
  return `${ticks}${pad}${text}${pad}${ticks}`;
};

/** The run's cancel as one sentence: who, when, why (the ledger's RunCancelled). */
export const cancelLine = (c: ReportCancel): string =>
  `Run cancelled by ${c.by ?? 'unknown'} at ${c.at}${c.reason ? `: “${c.reason}”` : ' (no reason given)'}`;

/** What the Output section says when the run recorded none. */
const noOutput = (r: AuditReport): string =>
  r.run.status === 'cancelled' ? 'None: the run was cancelled.' : 'None yet.';

export interface RenderOptions {
  /** List the steps the engine made too (ADR 88); by default they are counted, not listed. */
  readonly all?: boolean;
}

/** The steps a rendering lists, and how many engine steps it leaves out. */
function listed(r: AuditReport, opts: RenderOptions): { steps: ReportStep[]; left: number } {
  if (opts.all) return { steps: r.steps, left: 0 };
  const seen = stepVisibility(r.steps.map(named));
  const steps = r.steps.filter((s) => !seen.get(s.path)?.hidden);
  return { steps, left: r.steps.length - steps.length };
}

export function reportMarkdown(r: AuditReport, opts: RenderOptions = {}): string {
  const { steps, left } = listed(r, opts);
  const fence = (v: unknown) => {
    const text = json(v);
    const ticks = '`'.repeat(Math.max(3, ...[...text.matchAll(/`+/g)].map((m) => m[0].length + 1)));
    return `${ticks}json\n${text}\n${ticks}`;
  };
  const failure = r.chain.failure;
  const L: string[] = [
    `# Audit report: run ${mdText(r.run.run_id)}`,
    '',
    `- Pipeline: ${mdText(r.run.pipeline)} (fingerprint ${mdCode(r.run.fingerprint)})${r.run.source ? `, file ${mdCode(r.run.source)}` : ''}`,
    `- Status: **${r.run.status}**`,
    `- Started: ${r.run.started_at}; ended: ${r.run.ended_at ?? '—'}`,
    `- Cost: ${money(r.budget.spent_usd)} (limit ${r.budget.limit_usd === null ? 'none' : money(r.budget.limit_usd)}); tokens: ${r.budget.tokens.input} in, ${r.budget.tokens.output} out (limit ${r.budget.limit_tokens ?? 'none'})`,
    `- Chain: ${r.chain.events} events, head seq ${r.chain.head_seq}, head hash ${mdCode(r.chain.head_hash)}`,
    `- Verification: ${r.chain.verified ? '**intact**' : `**FAILED** at seq ${failure?.seq}: ${mdText(failure?.reason ?? '')} — ${mdText(failure?.detail ?? '')}. This report covers only the events before it.`}`,
    '',
    '## Input',
    '',
    fence(r.run.input),
    '',
    '## Steps',
    '',
    '| path | step | kind | status | model | prompt hash | cost |',
    '|---|---|---|---|---|---|---|',
  ];
  for (const s of steps) {
    const last = s.attempts[s.attempts.length - 1];
    L.push(
      `| ${mdText(s.path)} | ${mdText(s.name)} | ${mdText(s.kind)} | ${s.status} | ${mdText(last?.model ?? last?.agent ?? '')} | ${last ? `${mdCode(last.prompt_hash.slice(0, 16))}…` : ''} | ${money(s.cost_usd)} |`,
    );
  }
  if (left > 0) L.push('', engineStepsLine(left));
  for (const s of steps) L.push('', ...stepMd(s, fence));
  L.push('', '## Human decisions', '');
  const cancel = r.run.cancelled;
  if (r.decisions.length === 0 && !cancel) L.push('None.');
  for (const d of r.decisions) {
    L.push(
      `- ${mdText(d.step)} (${mdCode(d.path)}), asked ${d.requested_at}: “${mdText(d.message)}” — ${d.status === 'answered' ? `answered by **${mdText(d.answered_by ?? 'unknown')}** at ${d.answered_at}` : `**${d.status}**`}`,
    );
    if (d.status === 'answered') L.push('', fence(d.answer));
  }
  if (cancel) L.push(`- ${mdText(cancelLine(cancel))}`);
  L.push('', '## Output', '');
  if (r.run.error) L.push(`Failed: ${mdText(`${r.run.error.code}: ${r.run.error.message}`)}`);
  else L.push(r.run.output === undefined ? noOutput(r) : fence(r.run.output));
  return L.join('\n') + '\n';
}

function stepMd(s: ReportStep, fence: (v: unknown) => string): string[] {
  const L = [`### ${mdText(`${s.path} ${s.name} (${s.kind}, ${s.status})`)}`];
  if (s.branch !== undefined) L.push('', `Branch taken: ${mdText(s.branch)}`);
  if (s.iterations !== undefined) L.push('', `Iterations: ${s.iterations}`);
  for (const a of s.attempts) {
    L.push(
      '',
      `Attempt ${a.attempt}: agent ${mdCode(a.agent)}${a.model ? `, model ${mdCode(a.model)}` : ''}, prompt hash ${mdCode(a.prompt_hash)}, ${a.tokens.input}+${a.tokens.output} tokens, ${money(a.cost_usd)}`,
      '',
      'Input:',
      '',
      fence(a.input),
    );
    if (a.error) L.push('', `Error: ${mdText(`${a.error.code}: ${a.error.message}`)}`);
    else if (a.output !== undefined) L.push('', 'Output:', '', fence(a.output));
  }
  if (s.error) L.push('', `Step failed: ${mdText(`${s.error.code}: ${s.error.message}`)}`);
  return L;
}

/** Escapes text for HTML element content and double-quoted attributes. */
export function esc(text: string): string {
  return text
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&#39;');
}

const CSS = `body{font:14px/1.5 system-ui,sans-serif;margin:2rem auto;max-width:60rem;color:#1b1f24;padding:0 1rem}
h1{font-size:1.4rem}h2{font-size:1.15rem;border-bottom:1px solid #d0d7de;padding-bottom:.2rem;margin-top:2rem}
table{border-collapse:collapse;width:100%}td,th{border:1px solid #d0d7de;padding:.25rem .5rem;text-align:left;vertical-align:top}
pre{background:#f6f8fa;padding:.5rem;overflow:auto;white-space:pre-wrap;word-break:break-all;margin:.25rem 0}
code{font:12px ui-monospace,monospace}.ok{color:#1a7f37;font-weight:600}.bad{color:#cf222e;font-weight:600}
details{margin:.5rem 0}summary{cursor:pointer}`;

export function reportHtml(r: AuditReport, opts: RenderOptions = {}): string {
  const { steps: shown, left } = listed(r, opts);
  const pre = (v: unknown) => `<pre><code>${esc(json(v))}</code></pre>`;
  const td = (s: string) => `<td>${esc(s)}</td>`;
  const verdict = r.chain.verified
    ? '<span class="ok">intact</span>'
    : `<span class="bad">FAILED at seq ${esc(String(r.chain.failure?.seq))}: ${esc(r.chain.failure?.reason ?? '')} — ${esc(r.chain.failure?.detail ?? '')}. This report covers only the events before it.</span>`;
  const steps = shown
    .map((s) => {
      const attempts = s.attempts
        .map(
          (a) =>
            `<p>Attempt ${a.attempt}: agent <code>${esc(a.agent)}</code>${a.model ? `, model <code>${esc(a.model)}</code>` : ''}, prompt hash <code>${esc(a.prompt_hash)}</code>, ${a.tokens.input}+${a.tokens.output} tokens, ${esc(money(a.cost_usd))}</p><p>Input</p>${pre(a.input)}${a.error ? `<p class="bad">${esc(`${a.error.code}: ${a.error.message}`)}</p>` : a.output !== undefined ? `<p>Output</p>${pre(a.output)}` : ''}`,
        )
        .join('');
      const extra = [
        s.branch !== undefined ? `branch taken: ${s.branch}` : '',
        s.iterations !== undefined ? `iterations: ${s.iterations}` : '',
        s.error ? `failed: ${s.error.code}: ${s.error.message}` : '',
      ].filter(Boolean);
      return `<details${s.status === 'failed' ? ' open' : ''}><summary>${esc(`${s.path} ${s.name} (${s.kind}, ${s.status})`)}</summary>${extra.map((x) => `<p>${esc(x)}</p>`).join('')}${attempts}${s.output !== undefined && s.attempts.length === 0 ? `<p>Output</p>${pre(s.output)}` : ''}</details>`;
    })
    .join('\n');
  const decisions = r.decisions.length
    ? `<table><tr><th>step</th><th>asked</th><th>message</th><th>answered by</th><th>at</th><th>answer</th></tr>${r.decisions
        .map(
          (d) =>
            `<tr>${td(`${d.step} (${d.path})`)}${td(d.requested_at)}${td(d.message)}${td(d.status === 'answered' ? (d.answered_by ?? 'unknown') : d.status)}${td(d.answered_at ?? '—')}<td>${d.status === 'answered' ? pre(d.answer) : ''}</td></tr>`,
        )
        .join('')}</table>`
    : r.run.cancelled
      ? ''
      : '<p>None.</p>';
  const cancel = r.run.cancelled ? `<p class="bad">${esc(cancelLine(r.run.cancelled))}</p>` : '';
  const rows = shown
    .map((s) => {
      const last = s.attempts[s.attempts.length - 1];
      return `<tr>${td(s.path)}${td(s.name)}${td(s.kind)}${td(s.status)}${td(last?.model ?? last?.agent ?? '')}<td><code>${esc(last?.prompt_hash.slice(0, 16) ?? '')}</code></td>${td(money(s.cost_usd))}</tr>`;
    })
    .join('');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
<title>${esc(`Audit report: run ${r.run.run_id}`)}</title><style>${CSS}</style></head><body>
<h1>${esc(`Audit report: run ${r.run.run_id}`)}</h1>
<table>
<tr><th>pipeline</th>${td(`${r.run.pipeline}${r.run.source ? ` (${r.run.source})` : ''}`)}</tr>
<tr><th>fingerprint</th><td><code>${esc(r.run.fingerprint)}</code></td></tr>
<tr><th>status</th>${td(r.run.status)}</tr>
<tr><th>started / ended</th>${td(`${r.run.started_at} / ${r.run.ended_at ?? '—'}`)}</tr>
<tr><th>cost</th>${td(`${money(r.budget.spent_usd)} (limit ${r.budget.limit_usd === null ? 'none' : money(r.budget.limit_usd)})`)}</tr>
<tr><th>tokens</th>${td(`${r.budget.tokens.input} in, ${r.budget.tokens.output} out (limit ${r.budget.limit_tokens ?? 'none'})`)}</tr>
<tr><th>chain head</th><td>seq ${r.chain.head_seq} of ${r.chain.events} events, <code>${esc(r.chain.head_hash)}</code></td></tr>
<tr><th>verification</th><td>${verdict}</td></tr>
</table>
<h2>Input</h2>${pre(r.run.input)}
<h2>Steps</h2>
<table><tr><th>path</th><th>step</th><th>kind</th><th>status</th><th>model</th><th>prompt hash</th><th>cost</th></tr>${rows}</table>${left > 0 ? `\n<p>${esc(engineStepsLine(left))}</p>` : ''}
${steps}
<h2>Human decisions</h2>${decisions}${cancel}
<h2>Output</h2>${r.run.error ? `<p class="bad">${esc(`${r.run.error.code}: ${r.run.error.message}`)}</p>` : r.run.output === undefined ? `<p>${esc(noOutput(r))}</p>` : pre(r.run.output)}
</body></html>
`;
}
