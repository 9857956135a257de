/**
 * `flujo lens report RUN` (Markdown) over a run whose input, HITL message and answerer carry
 * Markdown and HTML: the report keeps its own sections and shows those values as text.
 * (`--by` refuses a newline now; the answerer is recorded through $USER.)
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { runCli } from './cli.js';

let p: string;
beforeAll(() => {
  p = mkdtempSync(join(tmpdir(), 'flujo-report-md-'));
  expect(runCli(['init'], { cwd: p }).code).toBe(0); // greet, then a HITL approval
});
afterAll(() => rmSync(p, { recursive: true, force: true }));

/** The Markdown outside fenced code blocks, where text is live. */
function liveMarkdown(md: string): string[] {
  const live: string[] = [];
  let fence: string | undefined;
  for (const line of md.split('\n')) {
    const open = /^ {0,3}(`{3,}|~{3,})/.exec(line)?.[1];
    if (fence === undefined && open) fence = open;
    else if (fence !== undefined && open && open[0] === fence[0] && open.length >= fence.length)
      fence = undefined;
    else if (fence === undefined) live.push(line);
  }
  return live;
}

describe('lens report --format md', () => {
  it('shows a forged heading and HTML from the input, the HITL message and the answerer as text', () => {
    const forged = 'Ada\n## Chain: 1 event (FORGED)\n<img src=x onerror=alert(1)>';
    const run = runCli(['run', '--input', forged, '--json'], { cwd: p });
    expect(run.code).toBe(0);
    const id = (JSON.parse(run.stdout) as { run_id: string }).run_id;
    const by = 'mallory\n\n## Output\n\n**all clear** <script>alert(1)</script> [x](http://e.vil)';
    // Recorded through $USER, which resume records without --by: --by refuses a newline now,
    // and a run recorded before that (or by $USER) keeps it.
    const resume = runCli(['resume', id, '--input', '{"approved":true}'], {
      cwd: p,
      env: { USER: by },
    });
    expect(resume.code, resume.stderr).toBe(0);

    const r = runCli(['lens', 'report', id, '--format', 'md'], { cwd: p });
    expect(r.code).toBe(0);
    const live = liveMarkdown(r.stdout);
    expect(live.filter((l) => /^ {0,3}#/.test(l)).map((l) => l.replace(/ .*/, ''))).toEqual([
      '#',
      '##', // Input
      '##', // Steps
      '###',
      '###',
      '###',
      '###',
      '##', // Human decisions
      '##', // Output
    ]);
    expect(live.filter((l) => l.startsWith('## '))).toEqual([
      '## Input',
      '## Steps',
      '## Human decisions',
      '## Output',
    ]);
    const text = live.join('\n');
    expect(text).not.toMatch(/<(img|script)|(?<!\\)\]\(http/i); // no tag, no live link
    const decision = live.find((l) => l.startsWith('- approve'));
    expect(decision).toContain(
      'Hello, Ada \\#\\# Chain: 1 event (FORGED) &lt;img src=x onerror=alert(1)&gt;! Welcome',
    );
    expect(decision).toContain(
      'answered by **mallory \\#\\# Output \\*\\*all clear\\*\\* &lt;script&gt;alert(1)&lt;/script&gt; \\[x\\](http://e.vil)**',
    );
  });
});
