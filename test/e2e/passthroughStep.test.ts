/**
 * A blueprint step with no agent and no `uses:` (V-A1) compiles to a sequence with no steps; the
 * run records it so (`StepScheduled.kind: sequence`), and every view of the run presents it as the
 * passthrough the user wrote (ADR 148): `run`/`resume --json` list it with its output, the
 * progress lines name it, and `lens show`, `report`, `trace` and `watch` give its kind as
 * `passthrough`; `explain` and `visualize` say so too. An empty `steps: []` branch is one as well,
 * and an import's `on_failure` passthrough branch stays an engine step. Built CLI, real SQLite.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { beforeAll, describe, expect, it } from 'vitest';

import { runCli } from './cli.js';

const dir = mkdtempSync(join(tmpdir(), 'flujo-passthrough-'));
const env = { FLUJO_STATE_URI: `sqlite:///${join(dir, 'state.db')}` };
const cli = (...args: string[]) => runCli(args, { cwd: dir, env });

const stringify = '    agent: { id: flujo.builtins.stringify }';
writeFileSync(
  join(dir, 'p.yaml'),
  [
    'version: "0.1"',
    'name: pt',
    'steps:',
    '  - name: first',
    stringify,
    '  - name: carry',
    '  - name: last',
    stringify,
    '',
  ].join('\n'),
);
writeFileSync(
  join(dir, 'ask.yaml'),
  [
    'version: "0.1"',
    'name: ask',
    'steps:',
    '  - name: first',
    stringify,
    '  - name: carry',
    '  - kind: hitl',
    '    name: approve',
    '    message: "Go on?"',
    '  - name: after',
    '',
  ].join('\n'),
);
writeFileSync(
  join(dir, 'child.yaml'),
  ['version: "0.1"', 'name: child', 'steps:', '  - name: inner', stringify, ''].join('\n'),
);
writeFileSync(
  join(dir, 'branch.yaml'),
  [
    'version: "0.1"',
    'name: branch',
    'imports:',
    '  kid: ./child.yaml',
    'steps:',
    '  - name: route',
    '    kind: conditional',
    '    condition_expression: "true"',
    '    branches:',
    '      "true": []',
    '      "false":',
    '        - name: other',
    '          agent: { id: flujo.builtins.stringify }',
    '  - name: sub',
    '    uses: imports.kid',
    '    config: { on_failure: skip }',
    '',
  ].join('\n'),
);

type Step = { name: string; status: string; output: unknown; kind?: string; internal?: boolean };
const json = <T>(r: ReturnType<typeof cli>): T => {
  expect(r.code, r.stderr).toBe(0);
  return JSON.parse(r.stdout) as T;
};
let ran: ReturnType<typeof cli>;

beforeAll(() => {
  ran = cli('run', 'p.yaml', '--input', 'hi', '--json', '--run-id', 'pt');
  expect(cli('run', 'branch.yaml', '--input', 'hi', '--run-id', 'branch').code).toBe(0);
}, 60_000);

describe('flujo run and resume', () => {
  it('--json lists the passthrough step in its place, with its output', () => {
    const r = json<{ steps: Step[] }>(ran);
    expect(r.steps.map((s) => [s.name, s.status, s.output])).toEqual([
      ['first', 'completed', 'hi'],
      ['carry', 'completed', 'hi'],
      ['last', 'completed', 'hi'],
    ]);
  });

  it('the progress lines name it as they name the other steps', () => {
    const text = cli('run', 'p.yaml', '--input', 'hi', '--run-id', 'pt-text');
    expect(text.code).toBe(0);
    const lines = text.stderr.split('\n').filter((l) => /^(step|✓) (?!run )/.test(l));
    expect(lines.map((l) => l.replace(/\d+ ms$/, 'N ms'))).toEqual([
      'step first started',
      '✓ first N ms',
      'step carry started',
      '✓ carry N ms',
      'step last started',
      '✓ last N ms',
    ]);
  });

  it('resume --json lists it too, before and after the question', () => {
    const paused = json<{ status: string; steps: Step[] }>(
      cli('run', 'ask.yaml', '--input', 'hi', '--json', '--run-id', 'asks'),
    );
    expect(paused.status).toBe('paused');
    expect(paused.steps.map((s) => s.name)).toEqual(['first', 'carry', 'approve']);
    const done = json<{ status: string; steps: Step[] }>(
      cli('resume', 'asks', '--input', 'yes', '--json'),
    );
    expect(done.status).toBe('completed');
    expect(done.steps.map((s) => [s.name, s.output])).toEqual([
      ['first', 'hi'],
      ['carry', 'hi'],
      ['approve', 'yes'],
      ['after', 'yes'],
    ]);
  });

  it("lists an empty branch, but not an import's on_failure passthrough (the engine's)", () => {
    const r = json<{ steps: Step[] }>(cli('lens', 'show', 'branch', '--json'));
    const kinds = Object.fromEntries(r.steps.map((s) => [s.name, [s.kind, s.internal]]));
    expect(kinds['route.true']).toEqual(['passthrough', false]);
    const skip = r.steps.find((s) => s.name.startsWith('__sub_skip'));
    expect(skip?.kind).toBe('passthrough');
    expect(skip?.internal).toBe(true);
    const again = json<{ steps: Step[] }>(
      cli('run', 'branch.yaml', '--input', 'hi', '--json', '--run-id', 'branch2'),
    );
    expect(again.steps.map((s) => s.name)).toEqual(['route.true', 'inner']);
  });
});

describe('lens show', () => {
  it('prints the step as a passthrough, and --json says kind passthrough', () => {
    const text = cli('lens', 'show', 'pt');
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(/^ {2}✓ 1 +carry +passthrough +\d+ms$/m);
    expect(text.stdout).toMatch(/^ {2}✓ 0 +first +step +\d+ms/m);
    expect(text.stdout).not.toContain('sequence');
    const r = json<{ steps: (Step & { path: string })[] }>(cli('lens', 'show', 'pt', '--json'));
    expect(r.steps.map((s) => [s.path, s.name, s.kind])).toEqual([
      ['0', 'first', 'step'],
      ['1', 'carry', 'passthrough'],
      ['2', 'last', 'step'],
    ]);
  });

  it('keeps sequence for a sequence that has steps (the conditional branch taken)', () => {
    const r = json<{ steps: Step[] }>(cli('lens', 'show', 'branch', '--json', '--all'));
    expect(r.steps.find((s) => s.name === 'route')?.kind).toBe('conditional');
    expect(r.steps.find((s) => s.name === 'sub')?.kind).toBe('sequence');
  });
});

describe('lens report, trace and watch', () => {
  it('report: json, md and html give the kind passthrough', () => {
    const r = json<{ steps: Step[] }>(cli('lens', 'report', 'pt', '--format', 'json'));
    expect(r.steps.map((s) => s.kind)).toEqual(['step', 'passthrough', 'step']);
    const md = cli('lens', 'report', 'pt');
    expect(md.stdout).toMatch(/^\| 1 \| carry \| passthrough \| completed \|/m);
    expect(md.stdout).toContain('### 1 carry (passthrough, completed)');
    const html = cli('lens', 'report', 'pt', '--format', 'html');
    expect(html.stdout).toContain('<td>carry</td><td>passthrough</td>');
    expect(html.stdout).not.toContain('sequence');
  });

  it('trace: the span type is passthrough, in the text tree too', () => {
    const root = json<{ children: { name: string; attributes: Record<string, unknown> }[] }>(
      cli('lens', 'trace', 'pt', '--json'),
    );
    const types = root.children.map((c) => [c.name, c.attributes['flujo.step.type']]);
    expect(types).toEqual([
      ['first', 'step'],
      ['carry', 'passthrough'],
      ['last', 'step'],
    ]);
    const text = cli('lens', 'trace', 'pt');
    expect(text.stdout).toMatch(/├─ ✓ carry \[passthrough\] \d+ms/);
  });

  it('watch: the line that starts it says passthrough, in its place, text and --json', () => {
    const w = cli('lens', 'watch', 'pt');
    expect(w.code).toBe(0);
    const lines = w.stdout.split('\n');
    const order = [/✓ 0 first/, /▶ 1 carry \[passthrough\]$/, /✓ 1 carry/, /▶ 2 last/].map((re) =>
      lines.findIndex((l) => re.test(l)),
    );
    expect(
      order.every((i) => i >= 0),
      w.stdout,
    ).toBe(true);
    expect([...order].sort((a, b) => a - b)).toEqual(order);
    expect(w.stdout).not.toContain('sequence');
    const all = cli('lens', 'watch', 'pt', '--all').stdout;
    expect(all).toContain('▶ 1 carry [passthrough]');
    const events = cli('lens', 'watch', 'pt', '--json')
      .stdout.trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { event: string; step?: string; kind?: string });
    const scheduled = events.filter((e) => e.event === 'StepScheduled');
    expect(scheduled.map((e) => [e.step, e.kind])).toEqual([
      ['first', 'step'],
      ['carry', 'passthrough'],
      ['last', 'step'],
    ]);
    // In order: carry's start right before its end.
    const i = events.findIndex((e) => e.step === 'carry');
    expect(events[i + 1]).toMatchObject({ event: 'StepCompleted', step: 'carry' });
  });
});

describe('explain and visualize', () => {
  it('say the step passes its input through, and draw it as a passthrough', () => {
    const explain = cli('explain', 'p.yaml');
    expect(explain.stdout).toContain('- carry: passes its input through');
    const tree = cli('visualize', 'p.yaml', '--format', 'text').stdout;
    expect(tree.split('\n').slice(0, 3)).toEqual([
      '• first [step] skill flujo.builtins.stringify',
      '• carry [passthrough]',
      '• last [step] skill flujo.builtins.stringify',
    ]);
    expect(cli('visualize', 'branch.yaml', '--format', 'text').stdout).toContain(
      '  • route.true [passthrough]',
    );
    expect(cli('visualize', 'p.yaml').stdout).toContain('(["carry (passthrough)"])');
  });
});
