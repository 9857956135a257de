/**
 * ADR 113: a refresh of `lens serve`'s copy in memory releases the old copy only for a file this
 * Flujo serves. A file of an older schema still opens read-only (ADR 83, `lens verify`), but
 * `openStateForReading` serves only today's schema; had the old copy been released for it, every
 * call would fail until the file was today's again. It keeps the old copy, and the refresh says
 * why. A user who may not create the file's -shm is stood in for by a better-sqlite3 that
 * refuses in-place read-only opens (as SQLite does then), so the file is read into a copy.
 */
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterEach, describe, expect, it, vi } from 'vitest';

import { readFromCopy, refreshingState } from '../../../src/adapters/ledger/copyRefresh.js';
import { openSqliteReadOnly } from '../../../src/adapters/ledger/sqliteOpen.js';
import { LEDGER_SCHEMA_VERSION } from '../../../src/adapters/ledger/sqliteSchema.js';
import { openState } from '../../../src/adapters/ledger/state.js';
import { openStateForReading } from '../../../src/adapters/ledger/stateRead.js';
import { emptyHead } from '../../../src/events/envelope.js';
import { stateFilePath } from '../../fixtures/compat/generateSqlite.js';
import { started } from '../../support/events.js';

const noShm = vi.hoisted(() => ({ on: false }));

vi.mock('better-sqlite3', async (original) => {
  const Real = (await original<{ default: new (...args: unknown[]) => object }>()).default;
  function Database(source: unknown, options?: { readonly?: boolean }): object {
    if (noShm.on && typeof source === 'string' && options?.readonly)
      throw Object.assign(new Error('unable to open database file'), { code: 'SQLITE_CANTOPEN' });
    return new Real(source, options);
  }
  Database.prototype = Real.prototype;
  return { default: Database };
});

const dirs: string[] = [];
afterEach(() => {
  noShm.on = false;
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** A project whose state file holds run `r`, written by this Flujo (today's schema). */
async function project(): Promise<{ root: string; path: string }> {
  const root = mkdtempSync(join(tmpdir(), 'flujo-copyschema-'));
  dirs.push(root);
  const state = await openState('sqlite:///state.db', { projectRoot: root });
  await state.ledger.append({ runId: 'r', expected: emptyHead('r'), events: [started()], at: 1 });
  await state.close();
  return { root, path: join(root, 'state.db') };
}

describe('a refresh of a copy in memory, to a file of another schema (ADR 113)', () => {
  it('openSqliteReadOnly calls beforeCopy for a file of this schema only', async () => {
    const { root, path } = await project();
    const old = join(root, 'old.db');
    copyFileSync(stateFilePath('a2e5cd7'), old);
    noShm.on = true;
    const calls: string[] = [];
    const today = openSqliteReadOnly(path, 5000, () => calls.push('today'));
    expect(today.version).toBe(LEDGER_SCHEMA_VERSION);
    expect(today.outdated).toBeTypeOf('function');
    today.close();
    // v1 opens read-only (lens verify reads it as it is), but the copy it would replace stays.
    const v1 = openSqliteReadOnly(old, 5000, () => calls.push('v1'));
    expect(v1.version).toBe(1);
    expect(v1.outdated).toBeTypeOf('function');
    v1.close();
    expect(calls).toEqual(['today']);
  });

  it('lens serve keeps serving the old copy and says why, then reads the file once it is this schema again', async () => {
    const { root, path } = await project();
    const uri = 'sqlite:///state.db';
    noShm.on = true;
    const first = await openStateForReading(uri, { projectRoot: root });
    if (!('state' in first)) throw new Error(first.stale);
    expect(readFromCopy(first.state.ledger)).toBe(true);
    let t = 0;
    const errors: string[] = [];
    const refreshes: string[] = [];
    // As lens serve's followCopy does.
    const state = refreshingState(first.state, {
      now: () => t,
      open: async (release) => {
        const read = await openStateForReading(uri, { projectRoot: root }, release);
        if ('stale' in read) throw new Error(read.stale);
        return read.state;
      },
      onError: (e) => errors.push((e as Error).message),
      onRefresh: () => refreshes.push('refresh'),
    });
    expect((await state.readModels.listRuns({})).map((r) => r.runId)).toEqual(['r']);

    // An older release's file is put in its place (same inode, other bytes).
    const today = join(root, 'today.db');
    copyFileSync(path, today);
    copyFileSync(stateFilePath('a2e5cd7'), path);
    t += 1000;
    expect((await state.readModels.listRuns({})).map((r) => r.runId)).toEqual(['r']);
    expect(await state.ledger.head('r')).toMatchObject({ seq: 1 });
    expect(errors).toEqual([`${path} has ledger schema v1`]);
    expect(refreshes).toEqual([]);

    // Today's file again: the next look reads it.
    copyFileSync(today, path);
    t += 1000;
    expect((await state.readModels.listRuns({})).map((r) => r.runId)).toEqual(['r']);
    expect(refreshes).toEqual(['refresh']);
    await state.close();
  });
});
