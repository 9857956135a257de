/**
 * What changed in a context record (`inp`, `out`, `att`, `err`, `sel`, `it`, `bctx`) since the
 * last snapshot took its picture (ADR 103), so that a snapshot's delta costs the entries changed
 * rather than the size of the record. A map keeps one entry per item done until it ends, and
 * copying and diffing every record at each snapshot made a map over n items take time in n²
 * (10,000 items: 40% of the run in `pictureOf` and `changesSince`).
 *
 * A journal is attached to a record when a snapshot first pictures it (`mark`), and from then on
 * is kept by the machine's context updates, which are the only code that changes a record
 * (machine.ts, through pathIndex.ts). It notes, for each entry touched since the mark, the value
 * it had then (or that it had none) and its place in the record's key order then; and for every
 * entry its place now. A record's key order is JavaScript's: array-index keys ascending, then the
 * other keys in the order they were added. The record itself is not touched.
 */

type Rec = Record<string, unknown>;

/** An entry the record did not hold at the mark. */
const ABSENT: unique symbol = Symbol('absent');

interface Touched {
  readonly old: unknown;
  /** Its place in the key order at the mark (when it was held). */
  readonly place: number;
}

interface Journal {
  /** Each entry's place in the order its key was added (array-index keys are ordered apart). */
  readonly place: Map<string, number>;
  next: number;
  /** Entries held now. */
  size: number;
  /** Entries touched since the mark: what they were then. */
  touched: Map<string, Touched>;
}

const journals = new WeakMap<Rec, Journal>();

/** Records whose journal was started from a scan: one per record object (tests count them). */
export const journalStats = { scans: 0 };

/** Before `rec[key] = value`; `had`: whether it holds the key. */
export function noteSet(rec: Rec, key: string, had: boolean): void {
  const j = journals.get(rec);
  if (!j) return;
  if (!j.touched.has(key))
    j.touched.set(
      key,
      had ? { old: rec[key], place: j.place.get(key)! } : { old: ABSENT, place: -1 },
    );
  if (!had) {
    j.place.set(key, j.next++);
    j.size++;
  }
}

/** Before `delete rec[key]`, for a key it holds. */
export function noteDrop(rec: Rec, key: string): void {
  const j = journals.get(rec);
  if (!j) return;
  if (!j.touched.has(key)) j.touched.set(key, { old: rec[key], place: j.place.get(key)! });
  j.place.delete(key);
  j.size--;
}

/** Takes the record as it is now as the picture the next changes are taken against. */
export function mark(rec: Rec): void {
  const j = journals.get(rec);
  if (j) {
    if (j.touched.size > 0) j.touched = new Map();
    return;
  }
  journalStats.scans++;
  const place = new Map<string, number>();
  let next = 0;
  for (const k of Object.keys(rec)) place.set(k, next++);
  journals.set(rec, { place, next, size: next, touched: new Map() });
}

/** A canonical array index (2^32 − 2 at most): such keys come first, ascending, in key order. */
function arrayIndex(k: string): number {
  const c = k.charCodeAt(0);
  if (c < 48 || c > 57 || (c === 48 && k.length > 1) || k.length > 10) return -1;
  for (let i = 1; i < k.length; i++) {
    const d = k.charCodeAt(i);
    if (d < 48 || d > 57) return -1;
  }
  const n = Number(k);
  return n <= 4294967294 ? n : -1;
}

/** Sorts `[key, place]` pairs into the record's key order. */
function inKeyOrder(entries: [string, number][]): string[] {
  return entries
    .map(([k, place]) => ({ k, i: arrayIndex(k), place }))
    .sort((a, b) =>
      a.i >= 0 || b.i >= 0 ? (a.i < 0 ? 1 : b.i < 0 ? -1 : a.i - b.i) : a.place - b.place,
    )
    .map((e) => e.k);
}

/** What changed in a journaled record since its mark; undefined for a record without a journal. */
export interface RecordChanges {
  /** Entries added or given another value, as they are now. */
  readonly set: [string, unknown][];
  /** Entries held at the mark and gone now, in the key order the record had at the mark. */
  readonly drop: string[];
  /** Entries the record holds now. */
  readonly size: number;
}

export function changesOf(rec: Rec): RecordChanges | undefined {
  const j = journals.get(rec);
  if (!j) return undefined;
  const set: [string, unknown][] = [];
  const dropped: [string, number][] = [];
  for (const [key, t] of j.touched) {
    if (Object.hasOwn(rec, key)) {
      const v = rec[key];
      if (t.old === ABSENT || t.old !== v) set.push([key, v]);
    } else if (t.old !== ABSENT) dropped.push([key, t.place]);
  }
  return {
    set,
    drop: dropped.length > 1 ? inKeyOrder(dropped) : dropped.map(([k]) => k),
    size: j.size,
  };
}

/**
 * The record as it was at its mark, in its key order then: what a snapshot pictured, rebuilt for
 * a record that the context no longer holds (replaced by another object since).
 */
export function asMarked(rec: Rec): Map<string, unknown> | undefined {
  const j = journals.get(rec);
  if (!j) return undefined;
  const entries = new Map<string, [unknown, number]>();
  for (const k of Object.keys(rec))
    if (!j.touched.has(k)) entries.set(k, [rec[k], j.place.get(k)!]);
  for (const [k, t] of j.touched) if (t.old !== ABSENT) entries.set(k, [t.old, t.place]);
  const order = inKeyOrder([...entries].map(([k, [, place]]) => [k, place]));
  return new Map(order.map((k) => [k, entries.get(k)![0]]));
}
