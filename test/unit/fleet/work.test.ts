/** The fleet's message vocabulary: subjects that name any run id, and messages checked with reasons. */
import { describe, expect, it } from 'vitest';

import {
  fleetNames,
  parseWorkMessage,
  parseWorkSubject,
  runOfToken,
  runToken,
  workSubject,
} from '../../../src/adapters/nats/work.js';

const n = fleetNames();
const bytes = (s: string) => new TextEncoder().encode(s);

describe('fleet subjects', () => {
  it('name a run by its id, encoding ids that are not one subject token', () => {
    expect(workSubject(n, 'start', 'order-1042')).toBe('flujo.work.start.order-1042');
    for (const id of ['a.b', 'x*y', 'tail>', 'ünïcode', '~plain', 'with space', 'order-1042']) {
      const token = runToken(id);
      expect(token).toMatch(/^[A-Za-z0-9_~-]+$/);
      expect(runOfToken(token)).toBe(id);
      expect(parseWorkSubject(n, workSubject(n, 'resume', id))).toEqual({
        kind: 'resume',
        runId: id,
      });
    }
    // Two ids never share a subject: an encoded token starts with ~, a plain one cannot.
    expect(runToken('~plain')).not.toBe(runToken('plain'));
  });

  it('keep namespaces apart and refuse a namespace that is not a token', () => {
    const staging = fleetNames('staging');
    expect(staging).toEqual({
      namespace: 'staging',
      stream: 'STAGING_WORK',
      consumer: 'staging-workers',
      deadStream: 'STAGING_DEAD',
    });
    expect(parseWorkSubject(n, workSubject(staging, 'start', 'r1'))).toHaveProperty('problem');
    expect(() => fleetNames('a.b')).toThrow(/namespace "a.b" must be/);
    expect(() => fleetNames('')).toThrow(/must be/);
  });
});

describe('work messages', () => {
  it('parse a start, a resume and a cancel', () => {
    expect(
      parseWorkMessage(
        n,
        'flujo.work.start.r1',
        bytes('{"pipeline":"p.yaml","input":"hi","budget":{"cost_usd":0.5}}'),
      ),
    ).toEqual({
      kind: 'start',
      runId: 'r1',
      body: { pipeline: 'p.yaml', input: 'hi', budget: { cost_usd: 0.5 } },
    });
    // An empty body is an empty message; `input: null` is an answer (null), not a missing one.
    expect(parseWorkMessage(n, 'flujo.work.resume.r1', new Uint8Array())).toEqual({
      kind: 'resume',
      runId: 'r1',
      body: {},
    });
    expect(parseWorkMessage(n, 'flujo.work.resume.r1', bytes('{"input":null}')).body).toEqual({
      input: null,
    });
    // A resume may name the file to resume under, as a start does (ADR 149).
    expect(
      parseWorkMessage(n, 'flujo.work.resume.r1', bytes('{"pipeline":"moved/a.yaml"}')).body,
    ).toEqual({ pipeline: 'moved/a.yaml' });
    expect(parseWorkMessage(n, 'flujo.work.cancel.r1', bytes('{"reason":"done"}')).body).toEqual({
      reason: 'done',
    });
  });

  it('refuse bad messages with the subject and the reason', () => {
    const bad = (subject: string, body: string) => () => parseWorkMessage(n, subject, bytes(body));
    expect(bad('flujo.work.stop.r1', '{}')).toThrow(
      /flujo\.work\.stop\.r1 is not flujo\.work\.<start\|resume\|cancel>/,
    );
    expect(bad('flujo.work.start', '{}')).toThrow(/is not flujo\.work/);
    expect(bad('flujo.work.start.r1', '{nope')).toThrow(
      /flujo\.work\.start\.r1: the body is not JSON/,
    );
    expect(bad('flujo.work.start.r1', '{"inptu":"x"}')).toThrow(/flujo\.work\.start\.r1: .*inptu/);
    expect(bad('flujo.work.start.r1', '{"budget":{"cost_usd":-1}}')).toThrow(/budget\.cost_usd/);
    expect(bad('flujo.work.resume.r1', '{"answered_by":""}')).toThrow(/answered_by/);
    // A resume's pipeline is bounded as a start's: not empty, at most 1000 characters.
    for (const kind of ['start', 'resume'])
      for (const file of ['', 'p'.repeat(1001)])
        expect(bad(`flujo.work.${kind}.r1`, JSON.stringify({ pipeline: file }))).toThrow(
          /: pipeline: /,
        );
    expect(bad('flujo.work.start.r1', '[1]')).toThrow(/body/);
    // Keys that reach JavaScript internals are refused by name and place, never dropped silently.
    expect(bad('flujo.work.start.r1', '{"context":{"a":{"__proto__":{"x":1}}}}')).toThrow(
      /"__proto__" at body\.context\.a is not allowed/,
    );
    expect(bad('flujo.work.resume.r1', '{"input":{"constructor":1}}')).toThrow(/"constructor"/);
    // Money is recorded in whole micro-dollars: a smaller budget would be a budget of zero.
    expect(bad('flujo.work.start.r1', '{"budget":{"cost_usd":1e-9}}')).toThrow(/budget\.cost_usd/);
    const huge = new Uint8Array((1 << 20) + 1);
    expect(() => parseWorkMessage(n, 'flujo.work.start.r1', huge)).toThrow(/at most 1048576/);
  });
});
