/**
 * The in-memory ledger: for tests, replay scratch space and `memory://`. Same contract as the
 * durable stores, including conflicts, fencing and commit-order subscription; nothing survives
 * the process.
 */
import { genesisHash, linkHash } from '../../events/chain.js';
import type { StoredRecord } from '../../events/envelope.js';
import type {
  AppendRequest,
  AppendResult,
  LedgerStore,
  ListRunsOptions,
  ReadOptions,
  RunHead,
  SubscribeOptions,
} from '../../ports.js';
import { Nudge, assertAppendable, nextRunHead, pollSubscribe, prepareAppend } from './common.js';

interface MemoryRun {
  head: RunHead;
  records: StoredRecord[];
}

export interface MemoryLedger extends LedgerStore {
  /** Test-only: the live stored rows of a run, to corrupt on purpose. */
  unsafeRows(runId: string): StoredRecord[];
  /**
   * Test-only: re-seals a run's rows after a test rewrote bodies through `unsafeRows` (each
   * hash recomputed along the chain, the head moved to the last), as a ledger that had written
   * those bytes in the first place would hold them.
   */
  unsafeReseal(runId: string): void;
}

export function createMemoryLedger(): MemoryLedger {
  const runs = new Map<string, MemoryRun>();
  const log: StoredRecord[] = [];
  const nudge = new Nudge();

  return {
    kind: 'memory',

    async append(req: AppendRequest): Promise<AppendResult> {
      const prepared = prepareAppend(req);
      const run = runs.get(req.runId);
      assertAppendable(req, prepared, run?.head ?? null);
      const stored = prepared.records.map((r, i) => ({ ...r, pos: String(log.length + i + 1) }));
      log.push(...stored);
      const head = nextRunHead(run?.head ?? null, prepared, req.at);
      if (run) {
        run.head = head;
        run.records.push(...stored);
      } else {
        runs.set(req.runId, { head, records: stored });
      }
      nudge.notify();
      return { records: prepared.records, head: prepared.head };
    },

    async head(runId: string) {
      return runs.get(runId)?.head ?? null;
    },

    async read(runId: string, options: ReadOptions = {}) {
      const records = runs.get(runId)?.records ?? [];
      const from = Math.max(1, options.fromSeq ?? 1);
      // A run's records hold seqs 1, 2, … in order, so seq n is at index n - 1.
      const end = options.limit === undefined ? undefined : from - 1 + options.limit;
      return records.slice(from - 1, end);
    },

    async listRuns(options: ListRunsOptions = {}) {
      const ids = [...runs.keys()]
        .filter((id) => (options.prefix ? id.startsWith(options.prefix) : true))
        .filter((id) => (options.afterRunId ? id > options.afterRunId : true))
        .sort();
      const limited = options.limit === undefined ? ids : ids.slice(0, options.limit);
      return limited.map((id) => (runs.get(id) as MemoryRun).head);
    },

    async readAll(after?: string, limit = 1000) {
      const from = after === undefined ? 0 : Number(after);
      return log.slice(from, from + limit);
    },

    subscribe(options?: SubscribeOptions) {
      return pollSubscribe((after, limit) => this.readAll(after, limit), nudge, options);
    },

    unsafeRows(runId: string) {
      return runs.get(runId)?.records ?? [];
    },

    unsafeReseal(runId: string) {
      const run = runs.get(runId);
      if (!run) return;
      let prev = genesisHash(runId);
      run.records = run.records.map((r) => {
        const hash = linkHash(prev, r.body);
        const sealed = { ...r, prev, hash };
        prev = hash;
        return sealed;
      });
      run.head = { ...run.head, hash: prev };
    },

    async close() {},
  };
}
