/**
 * One transaction's statements sent in one flight (docs/adr/0032): BEGIN, the strict append, the
 * projections' statements, COMMIT. The server runs them in order, and after a failure answers the
 * rest "transaction is aborted" and the COMMIT with ROLLBACK. Only a statement that fails on the
 * client, before reaching the server, could be skipped without aborting anything — so the
 * projections' parameters are held to values pg sends without converting objects.
 */
import type pg from 'pg';

import { EngineError, ErrorCode, LedgerStoreError } from '../../errors.js';

/** A parameter pg sends as is: nothing in it can fail on the client. */
export type PlainParam = string | number | boolean | Uint8Array | null;

export interface ProjectionStatement {
  readonly name?: string;
  readonly text: string;
  readonly values?: PlainParam[];
}

const plain = (v: unknown) =>
  v === null || v instanceof Uint8Array || ['string', 'number', 'boolean'].includes(typeof v);

/** Refuses, before anything is sent, a parameter that pg would have to convert. */
export function assertPlain(statements: readonly ProjectionStatement[]): void {
  for (const s of statements) {
    const bad = s.values?.findIndex((v) => !plain(v)) ?? -1;
    if (bad >= 0) {
      throw new EngineError(
        ErrorCode.USAGE,
        `projection statement ${s.name ?? JSON.stringify(s.text.slice(0, 60))}: parameter $${bad + 1} is not a string, number, boolean, bytes or null`,
      );
    }
  }
}

/**
 * Runs every statement and settles each, in order. A pipelining client gets them all at once;
 * otherwise each waits for the one before. Either way a failure does not stop the list: inside
 * the transaction, the server answers the rest itself.
 */
export async function issue(
  client: pg.PoolClient,
  queries: readonly (pg.QueryConfig | ProjectionStatement)[],
): Promise<Array<PromiseSettledResult<pg.QueryResult>>> {
  if (client.pipeline) return Promise.allSettled(queries.map((q) => client.query(q)));
  const out: Array<PromiseSettledResult<pg.QueryResult>> = [];
  for (const q of queries) {
    out.push(
      await client.query(q).then(
        (value) => ({ status: 'fulfilled' as const, value }),
        (reason: unknown) => ({ status: 'rejected' as const, reason }),
      ),
    );
  }
  return out;
}

/**
 * True when the flight committed, false when statement `guard` refused it (`refused(reason)`),
 * which rolled everything back; otherwise throws the first failure.
 */
export function committed(
  runId: string,
  results: ReadonlyArray<PromiseSettledResult<pg.QueryResult>>,
  guard: number,
  refused: (reason: unknown) => boolean,
): boolean {
  const last = results[results.length - 1];
  const commit = last?.status === 'fulfilled' && last.value.command === 'COMMIT';
  const failed = results.find((r) => r.status === 'rejected');
  if (!failed) {
    if (commit) return true;
    throw new LedgerStoreError(`append to ${runId}: COMMIT answered ROLLBACK`);
  }
  if (failed === results[guard] && refused(failed.reason)) return false;
  if (!commit) throw failed.reason;
  throw new LedgerStoreError(
    `append to ${runId} committed without a projection statement that pg could not send; run \`flujo lens rebuild\``,
    failed.reason,
    false,
  );
}
