/**
 * Rewrites a run in a SQLite ledger file as a forger with write access would: `edit` reshapes the
 * run's decoded envelopes, which are then renumbered, re-encoded and re-chained from the run's
 * genesis, with the head row moved to match. Every link and hash holds afterwards, so only the
 * run's shape (RunStarted at seq 1, and only there) can tell.
 */
import type Database from 'better-sqlite3';

import { genesisHash, linkHash } from '../../src/events/chain.js';
import { decodeCanonical, encodeCanonical } from '../../src/events/codec.js';

export type Envelope = Record<string, unknown>;

export function rechainRun(
  db: Database.Database,
  runId: string,
  edit: (envs: Envelope[]) => Envelope[],
): void {
  const rows = db.prepare('SELECT body FROM events WHERE run_id = ? ORDER BY seq').all(runId) as {
    body: Buffer;
  }[];
  const envs = edit(rows.map((r) => decodeCanonical(new Uint8Array(r.body)) as Envelope));
  const { run_no } = db.prepare('SELECT run_no FROM run_heads WHERE run_id = ?').get(runId) as {
    run_no: number;
  };
  const insert = db.prepare(
    'INSERT INTO event_log (run_no, seq, type, at, prev, hash, body) VALUES (?, ?, ?, ?, ?, ?, ?)',
  );
  db.transaction(() => {
    db.prepare('DELETE FROM events WHERE run_id = ?').run(runId);
    let prev = genesisHash(runId);
    envs.forEach((env, i) => {
      const body = encodeCanonical({ ...env, seq: i + 1 });
      const hash = linkHash(prev, body);
      insert.run(run_no, i + 1, env.type, env.at, Buffer.from(prev), Buffer.from(hash), body);
      prev = hash;
    });
    db.prepare('UPDATE run_heads SET seq = ?, hash = ? WHERE run_id = ?').run(
      envs.length,
      Buffer.from(prev),
      runId,
    );
  })();
}
