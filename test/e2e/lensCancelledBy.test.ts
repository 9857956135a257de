/**
 * Who cancelled a run, and why, in every lens view: `flujo cancel RUN --reason …` records
 * RunCancelled {by: "$USER (flujo cancel)", reason}, and `lens show`, `report` (md, html, json),
 * `trace` and `watch --json` say it; the report's Output no longer reads "None yet." for it.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { runCli } from './cli.js';

const BY = 'auditor (flujo cancel)';
const ISO = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;
let p: string;
let id: string;
let quiet: string;
const cli = (args: string[]) => runCli(args, { cwd: p, env: { USER: 'auditor' } });

beforeAll(() => {
  p = mkdtempSync(join(tmpdir(), 'flujo-lens-cancelled-'));
  expect(cli(['init']).code).toBe(0); // greet, then a HITL approval
  const start = (input: string) =>
    (JSON.parse(cli(['run', '--input', input, '--json']).stdout) as { run_id: string }).run_id;
  id = start('x');
  expect(cli(['cancel', id, '--reason', 'stop it']).code).toBe(0);
  quiet = start('y');
  expect(cli(['cancel', quiet]).code).toBe(0);
});
afterAll(() => rmSync(p, { recursive: true, force: true }));

describe('a cancelled run names who cancelled it and why', () => {
  it('lens show: a line in the text, run.cancelled {by, reason, at} in --json', () => {
    const text = cli(['lens', 'show', id]);
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(/⊘ Run cancelled by auditor \(flujo cancel\) at \S+Z: “stop it”/);
    const json = JSON.parse(cli(['lens', 'show', id, '--json']).stdout) as {
      status: string;
      run: { cancelled: { by: string; reason: string; at: string }; status: string };
    };
    expect(json.status).toBe('cancelled');
    expect(json.run.cancelled).toEqual({ by: BY, reason: 'stop it', at: expect.any(String) });
    expect(json.run.cancelled.at).toMatch(ISO);
    const none = JSON.parse(cli(['lens', 'show', quiet, '--json']).stdout) as {
      run: { cancelled: unknown };
    };
    expect(none.run.cancelled).toEqual({ by: BY, reason: null, at: expect.any(String) });
    expect(cli(['lens', 'show', quiet]).stdout).toContain(`cancelled by ${BY} at `);
  });

  it('lens report md and html: the cancel under the decisions, and no "None yet."', () => {
    const md = cli(['lens', 'report', id, '--format', 'md']).stdout;
    const decisions = md.slice(md.indexOf('## Human decisions'), md.indexOf('## Output'));
    expect(decisions).toMatch(/- Run cancelled by auditor \(flujo cancel\) at \S+Z: “stop it”/);
    expect(decisions).toContain('withdrawn');
    expect(md).toContain('## Output\n\nNone: the run was cancelled.');
    expect(md).not.toContain('None yet.');
    const html = cli(['lens', 'report', id, '--format', 'html']).stdout;
    expect(html).toMatch(
      /<p class="bad">Run cancelled by auditor \(flujo cancel\) at \S+Z: “stop it”<\/p>/,
    );
    expect(html).toContain('<h2>Output</h2><p>None: the run was cancelled.</p>');
    expect(html).not.toContain('None yet.');
  });

  it('lens report json: run.cancelled, the rest of the shape unchanged', () => {
    const r = JSON.parse(cli(['lens', 'report', id, '--format', 'json']).stdout) as {
      format: string;
      run: { status: string; ended_at: string; cancelled: { at: string } };
    };
    expect(r.format).toBe('flujo.audit-report');
    expect(r.run.status).toBe('cancelled');
    expect(r.run.cancelled).toEqual({ by: BY, reason: 'stop it', at: r.run.ended_at });
  });

  it('lens trace: the root span carries the cancel as attributes and an event', () => {
    const t = JSON.parse(cli(['lens', 'trace', id, '--json']).stdout) as {
      attributes: Record<string, unknown>;
      events: { name: string; attributes: Record<string, unknown> }[];
    };
    expect(t.attributes['flujo.cancelled.by']).toBe(BY);
    expect(t.attributes['flujo.cancelled.reason']).toBe('stop it');
    expect(t.events.find((e) => e.name === 'flujo.cancelled')?.attributes).toEqual({
      by: BY,
      reason: 'stop it',
    });
    const text = cli(['lens', 'trace', id]).stdout;
    expect(text.split('\n')[1]).toBe(`  ⊘ cancelled by ${BY}: stop it`);
  });

  it('lens watch: --json gives by and reason; the text says them', () => {
    const lines = cli(['lens', 'watch', id, '--json'])
      .stdout.trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    const last = lines[lines.length - 1];
    expect(last).toMatchObject({ event: 'RunCancelled', by: BY, reason: 'stop it' });
    const text = cli(['lens', 'watch', id]);
    expect(text.code).toBe(1);
    expect(text.stdout).toMatch(/run cancelled by auditor \(flujo cancel\): stop it/);
  });
});
