/**
 * The type-level half of the DSL's builders (./builder.ts): what a flow takes and gives, the
 * chain a `sequence` must be, and the output of a `parallel` or `router` by its `reduce` preset
 * and `onBranchFailure` (ADR 121). Types only: nothing here exists at run time. Split out of
 * builder.ts, which keeps the builders themselves.
 */
import type { Flow } from './builder.js';
import type { ReducePreset } from './ir.js';

export type Out<F> =
  F extends Flow<unknown, infer O> ? O : F extends Flow<never, infer O> ? O : never;
/** A tuple's last element; of an array of unknown length (a spread `...parts`), any element. */
export type Last<T extends readonly unknown[]> = T extends readonly [...unknown[], infer L]
  ? L
  : T[number];
/**
 * A flow's input. `never` is what a function of no argument is given as its input type where a
 * branch set is expected (`Flow<never, unknown>`): it ignores its input, so it takes anything.
 */
export type In<F> = F extends Flow<infer I, unknown> ? ([I] extends [never] ? unknown : I) : never;
/**
 * The input of branches that all run on the same value: what every one of them takes (the
 * intersection of their inputs); no branches take anything.
 */
export type BranchesIn<B> = {
  [K in keyof B]: (input: In<B[K]>) => void;
}[keyof B] extends (input: infer I) => void
  ? I
  : unknown;

/** A flow's input type as written: `never` for a function of no argument. */
type TakenIn<F> = F extends Flow<infer I, unknown> ? I : never;
/**
 * The parts of a sequence as each must be: the first as it is, and each later one a flow that
 * takes the previous one's output (`Flow<PreviousOutput, unknown>`), so a part that does not is
 * refused at that argument with the type it must take. A part of no argument (`Flow<never, …>`)
 * takes anything. From a spread array on (`sequence(...parts)`) parts are not checked: which of
 * them comes before which is not known.
 */
export type Chained<
  T extends readonly unknown[],
  Previous = never,
  First extends boolean = true,
  Done extends readonly unknown[] = [],
> = T extends readonly [infer Part, ...infer Rest]
  ? Chained<
      Rest,
      Out<Part>,
      false,
      [
        ...Done,
        First extends true
          ? Part
          : [TakenIn<Part>] extends [never]
            ? Part
            : [Previous] extends [TakenIn<Part>]
              ? Part
              : Flow<Previous, unknown>,
      ]
    >
  : [...Done, ...T];

/** Any one branch's output. */
type AnyOutput<B> = { [K in keyof B]: Out<B[K]> }[keyof B];
/** `x ?? null`: undefined becomes null. */
type OrNull<V> = Exclude<V, undefined> | (undefined extends V ? null : never);
/** The plain records among a value's types (isObj in src/actors/data.ts): not arrays or bytes. */
type RecordPart<V> = V extends readonly unknown[] | Uint8Array
  ? never
  : V extends object
    ? V
    : never;
/** Every key of any of the records `V` may be. */
type AnyKey<V> = V extends unknown ? keyof V : never;
/** The value at `K` in any of the records `V` may be that has `K`. */
type ValueAt<V, K extends PropertyKey> = V extends unknown
  ? K extends keyof V
    ? V[K]
    : never
  : never;
/** The keys a branch output surely has: it is surely a record, and the key is not optional. */
type SureKeys<O> = [O] extends [never]
  ? never
  : [O] extends [RecordPart<O>]
    ? KeysHeld<O, keyof O>
    : never;
/** Of the keys `K` (one by one), those every record `O` may be has, not optional. */
type KeysHeld<O, K> = K extends PropertyKey
  ? [O] extends [Record<K, unknown>]
    ? K
    : never
  : never;
/**
 * Which branches are sure to be in a parallel's or router's output: `every` one (a parallel under
 * `propagate`), at least `one` (a parallel under `ignore`: when every branch fails the node fails,
 * ALL_BRANCHES_FAILED), or `none` need be (a router, which may choose none).
 */
export type Sure = 'every' | 'one' | 'none';
/** Every branch's sure keys (SureKeys), together or in common. */
type KeysOfEvery<B> = { [K in keyof B]: SureKeys<Out<B[K]>> }[keyof B];
type KeysInCommon<B> = [keyof B] extends [never]
  ? never
  : {
        [K in keyof B]: (keys: SureKeys<Out<B[K]>>) => void;
      }[keyof B] extends (keys: infer C) => void
    ? C & PropertyKey
    : never;
/**
 * The `union` preset: the plain-record outputs merged into one. A later branch's key wins, so a
 * key is any of the types the branches give it. It is sure to be there when a branch sure to be
 * there surely gives it (`every`: any branch does; `one`: every branch does), else optional. An
 * `unknown` output may be any record.
 */
type UnionOf<B, S extends Sure> =
  unknown extends AnyOutput<B>
    ? Record<string, unknown>
    : MergedRecord<
        RecordPart<AnyOutput<B>>,
        S extends 'every' ? KeysOfEvery<B> : S extends 'one' ? KeysInCommon<B> : never
      >;
type MergedRecord<V, SureKey extends PropertyKey> = Flat<
  { [K in SureKey]: ValueAt<V, K> } & { [K in Exclude<AnyKey<V>, SureKey>]?: ValueAt<V, K> }
>;
type Flat<T> = { [K in keyof T]: T[K] };
/** The `concat` preset's items: an array output's items, any other output itself. */
type Items<V> = V extends readonly (infer E)[] ? E : V;

/**
 * What a parallel or router gives (src/actors/data.ts mergeBranches), for the branches `B`, the
 * `reduce` preset `R` (undefined: none) and which branches are sure to be there (`S`).
 */
export type FanOutOutput<B, R, S extends Sure> = R extends 'keys'
  ? `${keyof B & (string | number)}`[]
  : R extends 'values'
    ? AnyOutput<B>[]
    : R extends 'concat'
      ? Items<AnyOutput<B>>[]
      : R extends 'union'
        ? UnionOf<B, S>
        : R extends 'first' | 'last'
          ? [keyof B] extends [never]
            ? null
            : OrNull<AnyOutput<B>> | (S extends 'none' ? null : never)
          : S extends 'every'
            ? { [K in keyof B]: Out<B[K]> }
            : Partial<{ [K in keyof B]: Out<B[K]> }>;
/** The preset as the output type reads it: a wide one may be none, as when it was not given. */
export type PresetOf<R> = ReducePreset extends R ? R | undefined : R;
