/**
 * The Markdown audit report keeps run data from forging structure: every name, message and error
 * stays on its line, escaped, and code spans cannot be closed by backticks in the value.
 */
import { describe, expect, it } from 'vitest';

import type { AuditReport } from '../../src/lens/report.js';
import { mdCode, mdText, reportMarkdown } from '../../src/lens/reportRender.js';

const evil = (tag: string) => `${tag}\n\n## Chain (FORGED)\n<img src=x onerror=alert(1)>|x|`;
const error = { code: 'STEP_FAILED', message: evil('boom'), retryable: false };

const report: AuditReport = {
  format: 'flujo.audit-report',
  version: 1,
  run: {
    run_id: 'r1',
    pipeline: evil('pipe'),
    fingerprint: 'f'.repeat(64),
    source: 'flows/`odd`.yaml',
    status: 'failed',
    started_at: '2026-01-01T00:00:00.000Z',
    ended_at: '2026-01-01T00:00:01.000Z',
    input: evil('input'),
    error,
  },
  budget: { limit_usd: null, limit_tokens: null, spent_usd: 0, tokens: { input: 0, output: 0 } },
  steps: [
    {
      path: '0/x`y',
      name: evil('step'),
      kind: 'conditional',
      status: 'failed',
      started_at: '2026-01-01T00:00:00.000Z',
      ended_at: null,
      branch: evil('branch'),
      error,
      cost_usd: 0,
      attempts: [
        {
          attempt: 1,
          agent: 'fn:a`b',
          prompt_hash: 'a'.repeat(64),
          input: 'x',
          model: '`model',
          error,
          cost_usd: 0,
          tokens: { input: 0, output: 0 },
          latency_ms: null,
          at: '2026-01-01T00:00:00.000Z',
        },
      ],
      internal: false,
    },
  ],
  decisions: [
    {
      path: '1',
      step: evil('ask'),
      message: evil('message'),
      requested_at: '2026-01-01T00:00:00.000Z',
      status: 'answered',
      answer: { ok: true },
      answered_by: evil('mallory'),
      answered_at: '2026-01-01T00:00:01.000Z',
    },
  ],
  chain: {
    events: 3,
    head_seq: 3,
    head_hash: 'b'.repeat(64),
    verified: false,
    failure: { seq: 2, reason: 'hash_altered', detail: evil('detail') },
  },
};

/** Lines outside fenced blocks, with code spans removed: what a renderer reads as Markdown. */
const live = (md: string) =>
  md
    .split(/^```json\n[\s\S]*?\n```$/m)
    .join('')
    .split('\n')
    .map((l) => l.replace(/(?<![\\`])(`+)(?!`)[\s\S]*?(?<!`)\1(?!`)/g, '')); // not \`

describe('reportMarkdown', () => {
  it('keeps forged headings, HTML and table pipes from run data out of the structure', () => {
    const md = reportMarkdown(report);
    const lines = live(md);
    expect(lines.filter((l) => /^ {0,3}#/.test(l)).map((l) => l.split(' ')[0])).toEqual([
      '#',
      '##',
      '##',
      '###',
      '##',
      '##',
    ]);
    expect(lines.join('\n')).not.toMatch(/[<>]/);
    expect(md).not.toContain('\n## Chain');
    const row = lines.find((l) => l.startsWith('| 0'));
    expect(row?.match(/(?<!\\)\|/g)).toHaveLength(8);
    expect(md).toContain('\\#\\# Chain (FORGED) &lt;img src=x onerror=alert(1)&gt;\\|x\\|');
    expect(md).toContain('answered by **mallory \\#\\# Chain (FORGED)');
    expect(md).toContain('**FAILED** at seq 2: hash_altered — detail \\#\\#');
    expect(md).toContain('agent ``fn:a`b``, model `` `model ``');
    expect(md).toContain('file ``flows/`odd`.yaml``');
  });

  it('escapes inline Markdown and HTML on one line, leaving words alone', () => {
    expect(mdText('a_b *c* _d_ [e](f) ![g](h) <i> & `j` ~k~ #l \\')).toBe(
      'a_b \\*c\\* \\_d\\_ \\[e\\](f) !\\[g\\](h) &lt;i&gt; &amp; \\`j\\` \\~k\\~ \\#l \\\\',
    );
    expect(mdText('one\r\ntwo\u2028three\tfour')).toBe('one two three four');
    expect(mdCode('plain')).toBe('`plain`');
    expect(mdCode('a``b')).toBe('```a``b```');
    expect(mdCode('`a`')).toBe('`` `a` ``');
  });
});
