/**
 * The pipeline of the engine kill test (test/e2e/engineKill.test.ts): 22 function-step calls
 * through a sequence, a three-branch parallel of short sequences and a four-iteration loop.
 *
 * Every step, as its side effect, appends one line `GEN NAME INPUT` to the calls log named by
 * FLUJO_KILL_CALLS (synchronously, so the line is on disk before the step can return), where GEN
 * is the child's generation (FLUJO_KILL_GEN) and NAME INPUT is the call's marker: the step name and
 * its input as canonical JSON. The marker carries no idempotency key: it is what a model provider
 * would see, so the test counts calls the way a bill would. Most steps then wait 1-8 ms (derived
 * from the marker, not from Math.random) so that kills land at varied points. Outputs depend on
 * the input only, so an uninterrupted run's output is the only right answer.
 */
import { appendFileSync } from 'node:fs';

import { definePipeline, loop, parallel, sequence, step } from '../../src/dsl/builder.js';

export const CALLS_ENV = 'FLUJO_KILL_CALLS';
export const GEN_ENV = 'FLUJO_KILL_GEN';

export interface KillInput {
  readonly text: string;
  readonly n: number;
}
interface S {
  readonly v: number;
  readonly s: string;
}
interface L extends S {
  readonly i: number;
}

export const KILL_INPUT: KillInput = { text: 'flujo', n: 7 };

/** JSON with sorted keys: the same text for the same value whatever the key order. */
export function stableJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(stableJson).join(',')}]`;
  if (v !== null && typeof v === 'object') {
    const o = v as Record<string, unknown>;
    return `{${Object.keys(o)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${stableJson(o[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(v);
}

export const markerOf = (name: string, input: unknown) => `${name} ${stableJson(input)}`;

function fnv1a(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193) >>> 0;
  return h;
}

/** A function step that logs its call, then (usually) waits 1-8 ms before answering. */
function logged<I, O>(name: string, fn: (input: I) => O) {
  return step(name, (input: I): O | Promise<O> => {
    const marker = markerOf(name, input);
    const log = process.env[CALLS_ENV];
    if (log) appendFileSync(log, `${process.env[GEN_ENV] ?? '0'} ${marker}\n`);
    const wait = fnv1a(marker) % 11; // 9 and 10: answer synchronously
    if (wait === 0 || wait > 8) return fn(input);
    return new Promise((resolve) => setTimeout(() => resolve(fn(input)), wait));
  });
}

const mix = (v: number, k: number) => (v * 31 + k * 17 + 11) % 10_007;

/** Step `i` of parallel branch `tag`. */
const leg = (tag: string, i: number) =>
  logged(`${tag}${i}`, (x: S): S => ({ v: mix(x.v, i + tag.charCodeAt(0)), s: x.s + tag }));

export const killPipeline = definePipeline(
  'engine-kill',
  sequence(
    logged('ingest', (x: KillInput): S => ({ v: x.n, s: x.text })),
    logged('normalize', (x: S): S => ({ v: x.v, s: x.s.toUpperCase() })),
    logged('score', (x: S): S => ({ v: mix(x.v, x.s.length), s: x.s })),
    parallel('fan', {
      a: sequence(leg('a', 1), leg('a', 2), leg('a', 3)),
      b: sequence(leg('b', 1), leg('b', 2)),
      c: sequence(leg('c', 1), leg('c', 2), leg('c', 3)),
    }),
    logged('join', (x: { a: S; b: S; c: S }): L => ({
      v: (x.a.v + 2 * x.b.v + 3 * x.c.v) % 10_007,
      s: `${x.a.s}|${x.b.s}|${x.c.s}`,
      i: 0,
    })),
    loop(
      'refine',
      sequence(
        logged('r1', (x: L): L => ({ v: mix(x.v, x.i), s: x.s, i: x.i + 1 })),
        logged('r2', (x: L): L => ({ v: mix(x.v, 100 + x.i), s: `${x.s}.${x.i}`, i: x.i })),
      ),
      { maxLoops: 4 },
    ),
    logged('summarize', (x: L) => ({ value: x.v, rounds: x.i, label: x.s })),
    logged('emit', (x: { value: number; rounds: number; label: string }) => ({
      ...x,
      checksum: fnv1a(stableJson(x)),
    })),
  ),
);
