/**
 * The entries of a context record (`inp`, `out`, `att`, `err`, `sel`) below a runtime path,
 * found without scanning the record (ADR 97). A map keeps one entry per item done until it ends
 * (its outputs, and its items' inputs), so a scan of the record for every item forgotten made a
 * map over n items take time in n² (10,000 items: 29 of 52 s in `forget`).
 *
 * The index of a record is built from one scan the first time something below a path is dropped
 * from it, and then kept by the machine's context updates, which are the only code that changes a
 * record it is built for (machine.ts; a resume's records are fresh objects, indexed afresh). It
 * lists each entry under every path it is below: `a/b/c` under `a` and `a/b`, exactly the paths
 * `p` for which the entry starts with `p/`. The record itself is not touched: which entries it
 * holds, in which order, is what it was, so snapshots record the same bytes. Every change goes
 * through here, so these functions also keep the record's change journal (ADR 103).
 */

import { noteDrop, noteSet } from './recordJournal.js';

type Rec = Record<string, unknown>;
type Index = Map<string, Set<string>>;

const indexes = new WeakMap<Rec, Index>();

/** Scans done to build an index: one per record object (test/unit/actors/pathIndex.test.ts). */
export const pathIndexStats = { scans: 0 };

function each(key: string, f: (above: string) => void): void {
  for (let i = key.indexOf('/'); i >= 0; i = key.indexOf('/', i + 1)) f(key.slice(0, i));
}

function add(ix: Index, key: string): void {
  each(key, (above) => {
    let set = ix.get(above);
    if (!set) ix.set(above, (set = new Set()));
    set.add(key);
  });
}

function remove(ix: Index, key: string): void {
  each(key, (above) => {
    const set = ix.get(above);
    if (set?.delete(key) && set.size === 0) ix.delete(above);
  });
}

/** `rec[key] = value`, keeping the record's index and journal (recordJournal.ts), if it has them. */
export function setEntry(rec: Rec, key: string, value: unknown): void {
  const had = Object.hasOwn(rec, key);
  noteSet(rec, key, had);
  const ix = indexes.get(rec);
  if (ix && !had) add(ix, key);
  rec[key] = value;
}

/** `delete rec[key]`, keeping the record's index and journal, if it has them. */
export function dropEntry(rec: Rec, key: string): void {
  if (!Object.hasOwn(rec, key)) return;
  noteDrop(rec, key);
  delete rec[key];
  const ix = indexes.get(rec);
  if (ix) remove(ix, key);
}

/** Deletes every entry of `rec` whose key starts with `path/`. */
export function dropBelow(rec: Rec, path: string): void {
  let ix = indexes.get(rec);
  if (!ix) {
    pathIndexStats.scans++;
    ix = new Map();
    for (const k of Object.keys(rec)) add(ix, k);
    indexes.set(rec, ix);
  }
  const below = ix.get(path);
  if (!below) return;
  for (const k of [...below]) {
    noteDrop(rec, k);
    delete rec[k];
    remove(ix, k);
  }
}
