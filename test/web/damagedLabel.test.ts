/**
 * The web lens's run list over a real SQLite file whose ledger no longer records a run its read
 * models list (ADR 130): `/api/runs` says why (`damaged`), and the page labels the row in words
 * with a tooltip naming the command that checks it; an intact run carries neither. In chromium,
 * as test/web/browser.test.ts.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { openState, type State } from '../../src/adapters/ledger/state.js';
import type { SqliteLedger } from '../../src/adapters/ledger/sqlite.js';
import { definePipeline, step } from '../../src/dsl/builder.js';
import { createEngine } from '../../src/runtime/engine.js';
import { createLensServer, type LensServer } from '../../src/web/server.js';
import { launch } from './browser.js';

const dir = mkdtempSync(join(tmpdir(), 'flujo-web-damaged-'));
let state: State;
let server: LensServer;

beforeAll(async () => {
  state = await openState('sqlite:///state.db', { projectRoot: dir });
  const engine = createEngine({ ledger: state.ledger });
  const plan = definePipeline(
    'tally',
    step('count', (x: number) => x + 1),
  ).plan;
  for (const runId of ['run-intact', 'run-no-head', 'run-no-start'])
    await engine.run(plan, 1, { runId });
  const db = (state.ledger as SqliteLedger).db;
  db.exec(`DELETE FROM run_heads WHERE run_id = 'run-no-head'`);
  db.exec(`DELETE FROM events WHERE run_id = 'run-no-start' AND seq = 1`);
  server = await createLensServer(
    { ledger: state.ledger, readModels: state.readModels, resume: async () => ({ status: 'x' }) },
    { port: 0 },
  );
});

afterAll(async () => {
  await server?.close();
  await state?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('web lens: a listed run the ledger no longer records', () => {
  it('says why in /api/runs', async () => {
    const body = (await (await fetch(`${server.url}api/runs`)).json()) as {
      runs: { runId: string; damaged?: string }[];
    };
    const why = Object.fromEntries(body.runs.map((r) => [r.runId, r.damaged ?? null]));
    expect(why).toEqual({
      'run-intact': null,
      'run-no-head': 'unrecorded',
      'run-no-start': 'no_start',
    });
  });

  it('labels each damaged row in words, with a tooltip naming lens verify', async () => {
    const browser = await launch();
    try {
      const page = await browser.context.newPage();
      const errors: string[] = [];
      page.on('pageerror', (e) => errors.push(e.message));
      await page.goto(server.url);
      await page.waitForSelector('tr:has-text("tally")');
      const label = (id: string) => page.locator(`tr:has(a[href$="${id}"]) .verify.bad`);
      await expect.poll(() => label('run-no-head').count()).toBe(1);
      expect(await label('run-no-head').textContent()).toBe('✗ not in the ledger');
      expect(await label('run-no-head').getAttribute('title')).toContain('flujo lens verify --all');
      expect(await label('run-no-start').textContent()).toBe('✗ damaged in the ledger');
      expect(await label('run-no-start').getAttribute('title')).toContain(
        'flujo lens verify run-no-start',
      );
      expect(await label('run-intact').count()).toBe(0);
      expect(errors).toEqual([]);
    } finally {
      await browser.close();
    }
  }, 60_000);
});
