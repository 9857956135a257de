/**
 * `orphans()` of the SQLite ledger (ports.ts; ADR 130, ADR 139): events whose head row is gone.
 * With a run-id prefix, a v1 file's events are read by a range of their run ids; a v2 file's
 * hold a run number, not the id, so every orphaned run is read, found from the run numbers no
 * head row holds: a pass over the head rows and a range of event_log per gap, not every event.
 */
import type Database from 'better-sqlite3';

import { prefixEnd } from './common.js';
import type { ReadSql } from './sqliteSchema.js';

export interface OrphanRow {
  readonly events: number;
  readonly first_seq: number;
  readonly body: Uint8Array;
}

export function readOrphans(db: Database.Database, sql: ReadSql, prefix?: string): OrphanRow[] {
  const end = prefix ? prefixEnd(prefix) : undefined;
  const narrow = sql.selectOrphansNarrow;
  // Without a head row there is no gap to look in: every event is an orphan, read whole.
  const whole =
    end === undefined || (!narrow.byRange && !db.prepare('SELECT 1 FROM run_heads LIMIT 1').get());
  return db
    .prepare<unknown[], OrphanRow>(whole ? sql.selectOrphans : narrow.sql)
    .all(...(!whole && narrow.byRange ? [prefix, end] : []));
}
