/**
 * The web lens page (chromium) at the edges QA found at abb6e62, over a real SQLite ledger:
 * a run recorded as `.` or `..` opens with its badge (the page asked for `api/runs/../verify`,
 * which the browser made `api/verify`); an address whose %-escapes are not UTF-8 says so (the
 * page hung on Loading…); a run the ledger does not record (no head row, or no RunStarted) says
 * so first on its page, as `flujo lens show` refuses it, and offers no cancel or answer; its
 * badge says what `flujo lens verify` says (it said "✓ chain intact · 0 events").
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import type { BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';

import { openState, type State } from '../../src/adapters/ledger/state.js';
import type { SqliteLedger } from '../../src/adapters/ledger/sqlite.js';
import { definePipeline, hitl, sequence, step } from '../../src/dsl/builder.js';
import { createEngine } from '../../src/runtime/engine.js';
import { createLensServer, type LensServer } from '../../src/web/server.js';
import { launch } from './browser.js';
import { recordUnder } from './recordUnder.js';

const dir = mkdtempSync(join(tmpdir(), 'flujo-web-edges-browser-'));
let state: State;
let server: LensServer;
let browser: Awaited<ReturnType<typeof launch>>;
let context: BrowserContext;
const pageErrors: string[] = [];

beforeAll(async () => {
  state = await openState('sqlite:///state.db', { projectRoot: dir });
  await recordUnder(state, '..');
  await recordUnder(state, '.');
  const engine = createEngine({ ledger: state.ledger });
  const plan = definePipeline(
    'ask',
    sequence(
      step('draft', (x: number) => x + 1),
      hitl('approve', { message: 'Go on?', schema: z.boolean() }),
    ),
  ).plan;
  for (const runId of ['paused-no-head', 'paused-no-start']) await engine.run(plan, 1, { runId });
  const db = (state.ledger as SqliteLedger).db;
  db.exec(`DELETE FROM run_heads WHERE run_id = 'paused-no-head'`);
  db.exec(`DELETE FROM events WHERE run_id = 'paused-no-start' AND seq = 1`);
  server = await createLensServer(
    { ledger: state.ledger, readModels: state.readModels, resume: async () => ({ status: 'x' }) },
    { port: 0 },
  );
  await server.live;
  browser = await launch();
  context = browser.context;
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await server?.close();
  await state?.close();
  rmSync(dir, { recursive: true, force: true });
});

async function open(hash: string): Promise<Page> {
  const page = await context.newPage();
  page.on('pageerror', (e) => pageErrors.push(e.message));
  await page.goto(`${server.url}#${hash}`);
  return page;
}

describe('a run recorded as "." or ".."', () => {
  it.each(['..', '.'])('%j opens with its steps, its chain verified, its events', async (id) => {
    const page = await open(`/runs/${encodeURIComponent(id)}`);
    await page.waitForSelector('#run-id');
    expect(await page.textContent('#run-id')).toBe(id);
    await page.waitForSelector('.verify.ok');
    expect(await page.textContent('.verify.ok')).toMatch(/^✓ chain intact · \d+ events$/);
    await page.click('text=Show events');
    await page.waitForSelector('.events-table');
    expect(await page.locator('.events-table tr').first().textContent()).toContain('RunStarted');
    await page.click('text=Show trace tree');
    await page.waitForSelector('ul.tree');
    expect(await page.locator('.error-box').count()).toBe(0);
    expect(pageErrors).toEqual([]);
    await page.close();
  });
});

describe('an address that names no run', () => {
  it('says its %-escapes are not UTF-8 (the page stayed on Loading…)', async () => {
    const page = await open('/runs/%E0%A4%A');
    await page.waitForSelector('.error-box');
    expect(await page.textContent('.error-box')).toContain(
      '#/runs/%E0%A4%A names no run: its %-escapes are not valid UTF-8',
    );
    expect(await page.textContent('main')).not.toContain('Loading…');
    expect(pageErrors).toEqual([]);
    await page.close();
  });
});

describe('a run the ledger does not record as it is listed', () => {
  it('with no RunStarted: says so above its steps, tampered badge, no answer or cancel', async () => {
    const page = await open('/runs/paused-no-start');
    await page.waitForSelector('.error-box.damaged');
    const box = await page.textContent('.error-box.damaged');
    expect(box).toContain('✗ damaged in the ledger');
    expect(box).toContain('no RunStarted at seq 1');
    expect(box).toContain('flujo lens verify paused-no-start');
    expect(box).toContain('flujo lens show refuses it');
    await page.waitForSelector('.verify.bad');
    expect(await page.textContent('.verify.bad')).toMatch(/^✗ tampered at seq 1: /);
    // Paused, as the read models kept it: neither the form nor the cancel control is offered.
    expect(await page.locator('.card.pause').count()).toBe(0);
    expect(await page.locator('.cancel-slot *').count()).toBe(0);
    expect(pageErrors).toEqual([]);
    await page.close();
  });

  it('with no head row: says it is not in the ledger, no answer or cancel', async () => {
    const page = await open('/runs/paused-no-head');
    await page.waitForSelector('.error-box.damaged');
    const box = await page.textContent('.error-box.damaged');
    expect(box).toContain('✗ not in the ledger');
    expect(box).toContain('flujo lens verify --all');
    // The badge agrees with `flujo lens verify` (was "✓ chain intact · 0 events").
    await page.waitForSelector('.verify-slot .verify:not(.pending)');
    expect(await page.textContent('.verify-slot .verify')).toBe('✗ not in the ledger');
    expect(await page.getAttribute('.verify-slot .verify', 'title')).toContain(
      'the ledger holds no head row of it',
    );
    expect(await page.locator('.card.pause').count()).toBe(0);
    expect(await page.locator('.cancel-slot *').count()).toBe(0);
    expect(pageErrors).toEqual([]);
    await page.close();
  });
});
