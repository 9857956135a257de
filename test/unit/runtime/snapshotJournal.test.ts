/**
 * A snapshot's delta is read from the records' change journals and the summary's change log
 * (ADR 103) instead of copying and diffing the whole context and every step at each snapshot. It
 * must record exactly what the diff did: the same entries set, the same entries dropped in the
 * same order (a `drop` list is an array: its order is in the bytes), the same records replaced
 * whole, the same steps in the same order. Random sequences of the machine's own updates
 * (pathIndex.ts) are checked against the diff as it was written before, kept here as the reference.
 */
import { describe, expect, it } from 'vitest';

import { dropBelow, dropEntry, setEntry } from '../../../src/actors/pathIndex.js';
import { journalStats } from '../../../src/actors/recordJournal.js';
import type { NewEvent } from '../../../src/events/catalogue.js';
import { createMemoryLedger } from '../../../src/adapters/ledger/memory.js';
import { createEngine } from '../../../src/runtime/engine.js';
import { changesSince, pictureOf } from '../../../src/runtime/snapshot.js';
import { RunSummary } from '../../../src/runtime/summary.js';
import { nestedMapPlan } from '../../fixtures/pipelines/nestedMap.js';

// ---------------------------------------------------------------------------------------------
// The reference: pictureOf and changesSince as they were before ADR 103 (a copy of every record).

const RECORDS = ['inp', 'out', 'bctx', 'att', 'it', 'sel', 'err'];
const isPlain = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

interface RefPicture {
  fields: Map<string, unknown>;
  records: Map<string, Map<string, unknown>>;
}

function refPicture(context: object): RefPicture {
  const fields = new Map<string, unknown>();
  const records = new Map<string, Map<string, unknown>>();
  for (const [k, v] of Object.entries(context)) {
    if (RECORDS.includes(k) && isPlain(v)) records.set(k, new Map(Object.entries(v)));
    else fields.set(k, v);
  }
  return { fields, records };
}

function refChanges(context: object, was: RefPicture) {
  const out: {
    set?: Record<string, Record<string, unknown>>;
    drop?: Record<string, string[]>;
    fields?: Record<string, unknown>;
  } = {};
  const fields: [string, unknown][] = [];
  for (const [k, v] of Object.entries(context)) {
    const before = was.records.get(k);
    if (!before || !RECORDS.includes(k) || !isPlain(v)) {
      if (before || !was.fields.has(k) || was.fields.get(k) !== v) fields.push([k, v]);
      continue;
    }
    const set: [string, unknown][] = [];
    for (const [path, value] of Object.entries(v))
      if (!before.has(path) || before.get(path) !== value) set.push([path, value]);
    const drop: string[] = [];
    for (const path of before.keys()) if (!Object.hasOwn(v, path)) drop.push(path);
    if (drop.length > 0 && drop.length >= Object.keys(v).length) fields.push([k, v]);
    else {
      if (set.length > 0) (out.set ??= {})[k] = Object.fromEntries(set);
      if (drop.length > 0) (out.drop ??= {})[k] = drop;
    }
  }
  if (fields.length > 0) out.fields = Object.fromEntries(fields);
  return out;
}

/** A small deterministic generator (mulberry32), so a failure can be replayed from its seed. */
function random(seed: number) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return { next, pick: <T>(xs: readonly T[]): T => xs[Math.floor(next() * xs.length)] as T };
}

// Array-index keys ('0', '3', '10') come first in a record's key order, ascending; '01' and
// '4294967295' are not array indexes. Paths with '/' exercise dropBelow.
const KEYS = [
  '0',
  '3',
  '10',
  '01',
  '4294967295',
  'a',
  'a/b',
  'a/b/c',
  'a/bc',
  '3/x',
  '3/x/y',
  'b',
  'b/0',
  'b/1',
  'map/0/body',
  'map/1/body',
  'map/2/body',
  'zz',
];
const PREFIXES = ['a', 'a/b', '3', '3/x', 'b', 'map', 'nothing'];

describe('snapshot deltas from the change journals (ADR 103)', () => {
  it('set, drop (in order) and whole records exactly as diffing a full copy did, over random updates', () => {
    for (let seed = 1; seed <= 300; seed++) {
      const r = random(seed);
      const shared = [{ v: 1 }, { v: 2 }, 7, 'x'];
      const context: Record<string, unknown> = { runId: 'run-1', ctx: { n: 0 } };
      for (const k of RECORDS) context[k] = {};
      // Some records hold entries before their first picture (a resumed run's records).
      for (let i = 0; i < 5; i++)
        setEntry(context[r.pick(RECORDS)] as Record<string, unknown>, r.pick(KEYS), i);
      let pic = pictureOf(context);
      let ref = refPicture(context);
      for (let op = 0; op < 150; op++) {
        const rec = context[r.pick(RECORDS)] as Record<string, unknown>;
        const x = r.next();
        if (x < 0.4) setEntry(rec, r.pick(KEYS), r.next() < 0.5 ? r.pick(shared) : { op });
        else if (x < 0.6) dropEntry(rec, r.pick(KEYS));
        else if (x < 0.7) dropBelow(rec, r.pick(PREFIXES));
        else if (x < 0.75) context.ctx = r.next() < 0.5 ? context.ctx : { n: op };
        else if (x < 0.77) {
          // Replaced by another object (the machine never does): diffed against the picture.
          const k = r.pick(RECORDS);
          context[k] = { ...(context[k] as object) };
        } else if (x < 0.9) {
          const got = changesSince(context, pic);
          expect(got, `seed ${seed} op ${op}`).toEqual(refChanges(context, ref));
          // A snapshot that is not taken (too large) leaves the picture as it was.
          if (r.next() < 0.8) {
            pic = pictureOf(context);
            ref = refPicture(context);
          }
        }
      }
      expect(changesSince(context, pic), `seed ${seed} end`).toEqual(refChanges(context, ref));
    }
  });

  it('a run summary delta lists the steps changed since its base, in the full list order', () => {
    for (let seed = 1; seed <= 200; seed++) {
      const r = random(seed);
      const paths = Array.from({ length: 12 }, (_, i) => `p${i % 4}/${i}`);
      let summary = new RunSummary('run-1');
      const changedAt = new Map<string, number>();
      const scheduled = new Set<string>();
      let events = 0;
      const feed = (e: NewEvent) => {
        summary.apply(e);
        events += 1;
      };
      for (let op = 0; op < 120; op++) {
        const path = r.pick(paths);
        const x = r.next();
        if (x < 0.3) {
          feed({ type: 'StepScheduled', data: { path, name: path, kind: 'step' } });
          scheduled.add(path);
          changedAt.set(path, events);
        } else if (x < 0.5) {
          feed({ type: 'StepCompleted', data: { path, output: op } });
          changedAt.set(path, events);
        } else if (x < 0.6) {
          const running = summary.statusOf(path) === 'running';
          feed({ type: 'StepAbandoned', data: { path, cause: 'p0' } });
          if (running) changedAt.set(path, events);
        } else if (x < 0.65) {
          feed({ type: 'RunPaused', data: { path, reason: 'hitl' } });
        } else if (x < 0.7) {
          // Resumed from a snapshot: the summary rebuilt from it knows of no change yet.
          summary = RunSummary.fromChain('run-1', [summary.toJSON()]);
          changedAt.clear();
        } else {
          const since = Math.floor(r.next() * (events + 2));
          const all = summary.toJSON().steps as { path: string }[];
          const expected = all.filter((st) => (changedAt.get(st.path) ?? 0) > since);
          expect(summary.toJSON(since).steps, `seed ${seed} op ${op} since ${since}`).toEqual(
            expected,
          );
        }
      }
      expect(scheduled.size).toBeGreaterThan(0);
    }
  });

  it('a long map with snapshots pictures each record once, then reads its journal', async () => {
    const plan = nestedMapPlan('map-journal');
    const ledger = createMemoryLedger();
    const engine = createEngine({ ledger, snapshotEvery: 50 });
    const before = journalStats.scans;
    const items = Array.from({ length: 400 }, (_, i) => i);
    const res = await engine.run(plan, items);
    expect(res.status).toBe('completed');
    expect(res.output).toEqual(items.map((x) => (x + 1) * 2));
    const snaps = (await ledger.read(res.runId)).filter((x) => x.type === 'SnapshotTaken');
    expect(snaps.length).toBeGreaterThan(50);
    // Seven records, each scanned when first pictured; every later snapshot read the journals.
    expect(journalStats.scans - before).toBe(7);
  });
});
