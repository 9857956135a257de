/**
 * `flujo lens costs --by day` puts a call's spend on the UTC day it was requested (ADR 145): a
 * cancel's charge after midnight and a charge recorded after a reply from before midnight count
 * on the day before, as `lens costs RUN --by day` says for each run, on SQLite and Postgres, and
 * `lens rebuild` gives the same figures. Before, the across-runs table put 100 µ$ of the first
 * day on the second (and split one call over two days).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, describe, expect, it } from 'vitest';

import { openState } from '../../src/adapters/ledger/state.js';
import { PG_URL, dropSchema, postgresReachable, uniqueSchema } from '../support/services.js';
import { DAY_1, DAY_2, runAcrossMidnight } from '../projections/costDayScenario.js';
import { runCli } from './cli.js';

const reachable = await postgresReachable();
const schema = uniqueSchema('costdaycli');
const dirs: string[] = [];
afterAll(async () => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
  if (reachable) await dropSchema(schema);
});

const uris: [string, string][] = [['SQLite', 'sqlite:///state.db']];
if (reachable) uris.push(['Postgres', `${PG_URL}?schema=${schema}`]);

const row = (key: string, calls: number, tokens: number, usd: number) => ({
  key,
  calls,
  tokens: { input: tokens, output: tokens },
  cost_usd: usd,
});

describe.each(uris)('lens costs --by day across a UTC midnight (%s)', (_name, uri) => {
  it('counts each call on the day it was requested, for every run and one, rebuilt alike', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'flujo-costday-cli-'));
    dirs.push(dir);
    const state = await openState(uri, { projectRoot: dir });
    try {
      await runAcrossMidnight(state.ledger);
    } finally {
      await state.close();
    }
    const cli = (...args: string[]) => {
      const r = runCli(['lens', ...args], { cwd: dir, env: { FLUJO_STATE_URI: uri } });
      expect(r.code, r.stderr).toBe(0);
      return r.stdout;
    };
    const json = (...args: string[]) => JSON.parse(cli(...args, '--json')) as unknown;

    const byDay = {
      by: 'day',
      run_id: null,
      rows: [row(DAY_1, 1, 5, 0.00023), row(DAY_2, 1, 5, 0.00003)],
      total: { calls: 2, tokens: { input: 10, output: 10 }, cost_usd: 0.00026 },
    };
    expect(json('costs', '--by', 'day')).toEqual(byDay);
    expect(cli('costs', '--by', 'day')).toMatch(new RegExp(`^${DAY_1}\\s+1\\s+5\\s+5\\s+\\$`, 'm'));
    expect(json('costs', 'late-1', '--by', 'day')).toMatchObject({
      rows: [row(DAY_1, 0, 0, 0.0001)],
    });
    expect(json('costs', 'split-1', '--by', 'day')).toMatchObject({
      rows: [row(DAY_1, 1, 5, 0.00013)],
    });
    expect(json('costs', 'next-1', '--by', 'day')).toMatchObject({
      rows: [row(DAY_2, 1, 5, 0.00003)],
    });

    expect(cli('rebuild')).toMatch(/rebuilt runs, steps, hitl, costs/);
    expect(json('costs', '--by', 'day')).toEqual(byDay);
  });
});
