/**
 * A ledger that tells a listener about every batch it committed, after the commit: how the CLI
 * shows live progress without polling. The listener runs after the append resolved, so a slow
 * or failing listener can never hold up or undo a commit.
 */
import type { NewEvent } from '../../events/catalogue.js';
import type { LedgerStore } from '../../ports.js';

export function tapLedger(
  store: LedgerStore,
  onCommit: (runId: string, events: readonly NewEvent[], at: number) => void,
): LedgerStore {
  return withAppend(store, async (request) => {
    const result = await store.append(request);
    try {
      onCommit(request.runId, request.events, request.at);
    } catch {
      // Progress is a courtesy; the commit stands.
    }
    return result;
  });
}

/** The store with its append replaced (to observe commits); everything else goes to the store. */
export function withAppend(store: LedgerStore, append: LedgerStore['append']): LedgerStore {
  return {
    kind: store.kind,
    append,
    head: (runId) => store.head(runId),
    read: (runId, options) => store.read(runId, options),
    listRuns: (options) => store.listRuns(options),
    readAll: (after, limit) => store.readAll(after, limit),
    subscribe: (options) => store.subscribe(options),
    ...(store.orphans ? { orphans: (prefix) => store.orphans!(prefix) } : {}),
    close: () => store.close(),
  };
}
