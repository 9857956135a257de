/**
 * The web lens served by the built CLI over a real SQLite ledger shows a step with no agent and
 * no `uses:` (recorded as a sequence with no steps) as a passthrough (ADR 148): `/api/runs/:id`
 * gives its kind as `passthrough`, and the run page, in Debian's chromium, says so.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { launch } from '../web/browser.js';
import { CLI, runCli } from './cli.js';

const dir = mkdtempSync(join(tmpdir(), 'flujo-passthrough-web-'));
const stateUri = `sqlite:///${join(dir, 'state.db')}`;
writeFileSync(
  join(dir, 'p.yaml'),
  `version: "0.1"
name: pt
steps:
  - name: first
    agent: { id: flujo.builtins.stringify }
  - name: carry
  - name: last
    agent: { id: flujo.builtins.stringify }
`,
);

let url = '';
let stop: () => Promise<number | null>;

beforeAll(async () => {
  const r = runCli(['run', 'p.yaml', '--input', 'hi', '--run-id', 'pt'], {
    cwd: dir,
    env: { FLUJO_STATE_URI: stateUri },
  });
  expect(r.code, r.stderr).toBe(0);
  const env: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: '1', FLUJO_STATE_URI: stateUri };
  delete env.FLUJO_PROJECT_ROOT;
  delete env.FLUJO_LENS_TOKEN;
  const child = spawn(process.execPath, [CLI, 'lens', 'serve', '--port', '0'], { cwd: dir, env });
  const exit = new Promise<number | null>((done) => child.on('close', done));
  stop = () => {
    child.kill('SIGINT');
    return exit;
  };
  url = await new Promise<string>((resolve, reject) => {
    let err = '';
    child.stderr.on('data', (d: Buffer) => {
      err += d.toString();
      const m = /flujo lens: (\S+)/.exec(err);
      if (m?.[1]) resolve(m[1]);
    });
    void exit.then((code) => reject(new Error(`lens serve exited ${code}: ${err}`)));
  });
}, 60_000);

afterAll(async () => {
  expect(await stop()).toBe(0);
});

describe('the web lens', () => {
  it('/api/runs/:id gives the step the kind passthrough', async () => {
    const body = (await (await fetch(`${url}api/runs/pt`)).json()) as {
      steps: { path: string; name: string; kind: string; hidden: boolean }[];
    };
    const shown = body.steps.filter((s) => s.path !== '.');
    expect(shown.map((s) => [s.name, s.kind, s.hidden])).toEqual([
      ['first', 'step', false],
      ['carry', 'passthrough', false],
      ['last', 'step', false],
    ]);
  });

  it("the run page says the step's kind is passthrough", async () => {
    const browser = await launch();
    try {
      const page = await browser.context.newPage();
      await page.goto(`${url}#/runs/pt`);
      const step = page.locator('details.step:has(.sname:text-is("carry"))');
      await step.locator('summary').click();
      const facts = await step.locator('.facts').innerText();
      expect(facts).toMatch(/kind\s+passthrough/);
    } finally {
      await browser.close();
    }
  }, 60_000);
});
