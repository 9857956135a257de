/**
 * A SnapshotTaken: the fold state after a batch and the run summary as of before it (the summary
 * takes events once they are recorded), so resume can start from it instead of refolding. The
 * summary and the machine context are whole in a key snapshot and deltas on the snapshot before
 * in the others (ADR 38, ADR 39).
 */
import { foldSnapshot, type FoldState } from '../actors/fold.js';
import { isObj as isPlain } from '../actors/data.js';
import { asMarked, changesOf, mark, type RecordChanges } from '../actors/recordJournal.js';
import type { RunMachineContext } from '../actors/vocabulary.js';
import { EngineError, ErrorCode } from '../errors.js';
import type { NewEvent } from '../events/catalogue.js';
import { encodeCanonical } from '../events/codec.js';
import type { RunSummary } from './summary.js';

/**
 * The context's records keyed by runtime path, diffed entry by entry. The machine updates them in
 * place, one entry at a time, through pathIndex.ts, which keeps each pictured record's change
 * journal (ADR 103), and never changes an entry's value in place (machine.ts), so an entry whose
 * value is the same object as at the last snapshot is unchanged. The context's other fields (the
 * run context, the run id) are compared whole.
 */
const RECORDS = [
  'inp',
  'out',
  'bctx',
  'att',
  'it',
  'sel',
  'err',
] as const satisfies readonly (keyof RunMachineContext)[];
const isRecordKey = (k: string): k is (typeof RECORDS)[number] =>
  (RECORDS as readonly string[]).includes(k);

type Rec = Record<string, unknown>;

/**
 * The context as the last snapshot held it: its fields by reference, and its record objects,
 * whose journals (marked when the picture was taken) say what changed in them since.
 */
export interface ContextPicture {
  readonly fields: ReadonlyMap<string, unknown>;
  readonly records: ReadonlyMap<string, Rec>;
}

/**
 * What changed in the context since a picture: entries set and dropped, and fields replaced
 * whole (the run context, or a record that dropped more entries than it kept).
 */
export interface ContextChanges {
  set?: Record<string, Record<string, unknown>>;
  drop?: Record<string, string[]>;
  fields?: Record<string, unknown>;
}

/** Takes the context as it is now as the picture the next snapshot's changes are taken against. */
export function pictureOf(context: object): ContextPicture {
  const fields = new Map<string, unknown>();
  const records = new Map<string, Rec>();
  for (const [k, v] of Object.entries(context)) {
    if (isRecordKey(k) && isPlain(v)) {
      mark(v);
      records.set(k, v);
    } else fields.set(k, v);
  }
  return { fields, records };
}

const isText = (v: unknown): v is string => typeof v === 'string';

/**
 * A record's changes since the picture, from its journal; for a record the context replaced by
 * another object since (the machine never does), by diffing against the pictured one as it was.
 */
function recordChanges(v: Rec, pictured: Rec): RecordChanges {
  if (v === pictured) {
    const ch = changesOf(v);
    if (ch) return ch;
  }
  const before = asMarked(pictured);
  if (!before) throw new Error(`internal: a pictured context record has no journal`);
  const set: [string, unknown][] = [];
  for (const [path, value] of Object.entries(v))
    if (!before.has(path) || before.get(path) !== value) set.push([path, value]);
  const drop: string[] = [];
  for (const path of before.keys()) if (!Object.hasOwn(v, path)) drop.push(path);
  return { set, drop, size: Object.keys(v).length };
}

export function changesSince(context: object, was: ContextPicture): ContextChanges {
  const out: ContextChanges = {};
  const fields: [string, unknown][] = [];
  for (const [k, v] of Object.entries(context)) {
    const pictured = was.records.get(k);
    if (!pictured || !isRecordKey(k) || !isPlain(v)) {
      if (pictured || !was.fields.has(k) || was.fields.get(k) !== v) fields.push([k, v]);
      continue;
    }
    const { set, drop, size } = recordChanges(v, pictured);
    // A finished map or parallel drops many entries at once: past the entries left, the record
    // whole is the smaller change.
    if (drop.length > 0 && drop.length >= size) fields.push([k, v]);
    else {
      if (set.length > 0) (out.set ??= {})[k] = Object.fromEntries(set);
      if (drop.length > 0) (out.drop ??= {})[k] = drop;
    }
  }
  if (fields.length > 0) out.fields = Object.fromEntries(fields);
  return out;
}

/**
 * The latest snapshot as the next one's base: its seq, the summary's event count when it was
 * taken, `keyBytes` the size of the key snapshot its chain starts at and `chainBytes` the deltas'
 * since. A new snapshot is a delta while the deltas stay smaller than their key snapshot, so a
 * resume decodes at most about twice a full summary, and the key snapshots' sizes grow
 * geometrically, keeping the ledger's snapshots linear in the run.
 */
export interface SnapshotChain {
  readonly seq: number;
  readonly events: number;
  readonly keyBytes: number;
  readonly chainBytes: number;
  /** The context as this snapshot holds it; without it the next snapshot is a key one. */
  readonly context?: ContextPicture;
}

/**
 * The snapshot closing a batch that ends at `uptoSeq`, or null when it would be larger than
 * `maxBytes` or holds a value outside the data model (then the run is simply not snapshotted),
 * with the chain as it stands after it. While the run's `chain` allows, the summary is a delta:
 * only the steps changed since the snapshot the chain ends at, which `summaryBase` names
 * (ADR 38); otherwise it is whole and the snapshot starts a new chain.
 */
/** Snapshots tried, taken or not (test/unit/runtime/deepValues.test.ts counts them). */
export const snapshotStats = { tried: 0 };

export function snapshotEvent(
  state: FoldState,
  status: FoldState['status'],
  summary: RunSummary,
  summaryUpto: number,
  uptoSeq: number,
  opts: {
    readonly maxBytes: number;
    readonly fingerprint?: string;
    readonly chain: SnapshotChain | null;
  },
): { event: NewEvent; chain: SnapshotChain } | null {
  snapshotStats.tried++;
  const c = opts.chain;
  const base = c !== null && c.chainBytes < c.keyBytes && c.context ? c : undefined;
  const { context, ...fold } = foldSnapshot(state);
  const data = {
    uptoSeq,
    state: {
      fold: {
        ...fold,
        status,
        ...(base?.context
          ? { contextChanges: changesSince(context as object, base.context) }
          : { context }),
      },
      summary: summary.toJSON(base?.events),
      summaryUpto,
      ...(base ? { summaryBase: base.seq } : {}),
      ...(opts.fingerprint !== undefined ? { fingerprint: opts.fingerprint } : {}),
    },
  };
  let bytes: number;
  try {
    // The data sits one level down in its record (the envelope): measured there, so a state the
    // record cannot hold is not snapshotted, rather than failing the commit it closes.
    bytes = encodeCanonical(data, 1).length;
  } catch {
    return null;
  }
  if (bytes > opts.maxBytes) return null;
  const at = {
    seq: uptoSeq + 1,
    events: summary.eventCount,
    context: pictureOf(context as object),
  };
  const chain = base
    ? { ...at, keyBytes: base.keyBytes, chainBytes: base.chainBytes + bytes }
    : { ...at, keyBytes: bytes, chainBytes: 0 };
  return { event: { type: 'SnapshotTaken', data }, chain };
}

/**
 * The fold a snapshot chain stands for (oldest first): the latest fold, with the context of the
 * latest one holding it whole and the changes of the ones after it applied in order. Snapshots
 * from before ADR 39 all hold their context whole.
 */
export function foldFromChain(
  runId: string,
  folds: readonly { seq: number; fold: Record<string, unknown> }[],
): Record<string, unknown> {
  const whole = folds.findLastIndex((f) => isPlain(f.fold.context));
  const latest = folds[folds.length - 1];
  if (whole < 0 || !latest)
    throw new EngineError(
      ErrorCode.LEDGER_DECODE,
      `run ${runId} seq ${latest?.seq ?? '?'}: no snapshot of its chain holds the whole machine context`,
    );
  // Decoded from the ledger for this resume alone, so it can be updated in place.
  const context = (folds[whole] as (typeof folds)[number]).fold.context as Record<string, unknown>;
  for (const { seq, fold } of folds.slice(whole + 1)) {
    const bad = (what: string) =>
      new EngineError(ErrorCode.LEDGER_DECODE, `run ${runId} seq ${seq}: the snapshot ${what}`);
    const ch = fold.contextChanges as ContextChanges | undefined;
    if (!isPlain(ch)) throw bad('holds neither a machine context nor its changes');
    // Entries of the records only (the codec never decodes a `__proto__` key).
    for (const [k, paths] of Object.entries(ch.drop ?? {})) {
      const rec = context[k];
      if (!isRecordKey(k) || !isPlain(rec) || !Array.isArray(paths) || !paths.every(isText))
        throw bad(`drops entries of ${JSON.stringify(k)}, which is not a record it holds`);
      for (const p of paths) delete rec[p];
    }
    for (const [k, entries] of Object.entries(ch.set ?? {})) {
      if (!isRecordKey(k) || !isPlain(entries))
        throw bad(`sets entries of ${JSON.stringify(k)}, which is not a record`);
      const rec = isPlain(context[k]) ? (context[k] as Record<string, unknown>) : (context[k] = {});
      Object.assign(rec, entries);
    }
    if (ch.fields !== undefined && !isPlain(ch.fields)) throw bad('replaces fields wrongly');
    Object.assign(context, ch.fields ?? {});
  }
  const { contextChanges: _, ...rest } = latest.fold;
  return { ...rest, context };
}
