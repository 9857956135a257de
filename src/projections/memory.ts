/**
 * Read models for a store without projection tables (`memory://`): the same fold, applied to
 * maps, catching up with the ledger's commit order on each query.
 */
import type { LedgerStore } from '../ports.js';
import { changesOfRecords } from './fold.js';
import type { ReadModels } from './readModels.js';
import { ProjectionTables } from './tables.js';

export interface FoldingReadModels extends ReadModels {
  /** Forget every row and fold the ledger again from its first record. */
  rebuild(): Promise<{ events: number }>;
}

export function foldingReadModels(ledger: LedgerStore): FoldingReadModels {
  let tables = new ProjectionTables();
  let after: string | undefined;
  const system = new Map<string, string>();
  let pending: Promise<number> | null = null;

  async function catchUp(): Promise<number> {
    let n = 0;
    for (;;) {
      const page = await ledger.readAll(after, 1000);
      for (const c of changesOfRecords(page)) tables.apply(c);
      n += page.length;
      const last = page[page.length - 1];
      if (last) after = last.pos;
      if (page.length < 1000) return n;
    }
  }
  // One catch-up at a time: concurrent queries share it instead of folding a page twice.
  const fresh = async () => {
    while (pending) await pending;
    pending = catchUp();
    try {
      return await pending;
    } finally {
      pending = null;
    }
  };

  return {
    async listRuns(q) {
      await fresh();
      return tables.listRuns(q);
    },
    async countByStatus(q) {
      await fresh();
      return tables.countByStatus(q);
    },
    async getRun(runId) {
      await fresh();
      return tables.getRun(runId);
    },
    async steps(runId) {
      await fresh();
      return tables.stepsOf(runId);
    },
    async costs(q) {
      await fresh();
      return tables.costs(q);
    },
    async hitl(q) {
      await fresh();
      return tables.hitl(q);
    },
    async getSystemState(key) {
      const v = system.get(key);
      return v === undefined ? null : (JSON.parse(v) as unknown);
    },
    async setSystemState(key, value) {
      system.set(key, JSON.stringify(value ?? null));
    },
    async rebuild() {
      while (pending) await pending;
      tables = new ProjectionTables();
      after = undefined;
      return { events: await fresh() };
    },
  };
}
