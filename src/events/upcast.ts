/**
 * Upcasters carry an event's data from the version it was written at to the current one.
 * `upcasters[type][v]` maps version v to v + 1. Stored bytes are never rewritten: the chain
 * hashes what was written, and upcasting happens after the hash is checked.
 */
import type { EventType } from './catalogue.js';

export type Upcaster = (data: unknown) => unknown;

export const upcasters: Partial<Record<EventType, Record<number, Upcaster>>> = {};

export function upcast(type: EventType, fromVersion: number, toVersion: number, data: unknown) {
  let out = data;
  for (let v = fromVersion; v < toVersion; v++) {
    const step = upcasters[type]?.[v];
    if (!step) throw new Error(`no upcaster for ${type} v${v} -> v${v + 1}`);
    out = step(out);
  }
  return out;
}
