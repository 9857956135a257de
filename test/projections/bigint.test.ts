/**
 * Integers beyond Number.MAX_SAFE_INTEGER (a `bigint` the ledger records exactly) in a step's
 * output and the run's output: the read models' previews, `lens show` (its rows), the audit
 * report, `run --json` and the web lens write them as their exact number text (ADR 79). Before,
 * the preview's JSON.stringify threw ("Do not know how to serialize a BigInt": memory:// read
 * models could not be read; the SQL stores' inline hook runs it inside the append), and so did
 * runJson's.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, describe, expect, it } from 'vitest';

import { openState } from '../../src/adapters/ledger/state.js';
import { definePipeline, sequence, step } from '../../src/dsl/builder.js';
import { jsonText, parseJsonText } from '../../src/jsonText.js';
import { readRunEvents } from '../../src/lens/events.js';
import { buildReport } from '../../src/lens/report.js';
import { reportMarkdown } from '../../src/lens/reportRender.js';
import { stepJson } from '../../src/lens/rows.js';
import { createEngine } from '../../src/runtime/engine.js';
import { runJson } from '../../src/runtime/resultJson.js';
import { verifyStoredRun } from '../../src/runtime/verifyLedger.js';

const BIG = 2n ** 60n + 1n; // 1152921504606846977: a double would round it to …976
const TEXT = '1152921504606846977';

const plan = definePipeline(
  'big',
  sequence(
    step('make', () => ({ n: BIG, small: 7n, list: [-BIG] })),
    step('keep', (x: unknown) => x),
  ),
).plan;

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

describe('a bigint in an output', () => {
  it.each([['memory'], ['SQLite']])('is shown exactly in every JSON view (%s)', async (store) => {
    const dir = mkdtempSync(join(tmpdir(), 'flujo-big-'));
    dirs.push(dir);
    const state = await openState(store === 'memory' ? 'memory://' : 'sqlite:///state.db', {
      projectRoot: dir,
    });
    try {
      const engine = createEngine({ ledger: state.ledger, newRunId: () => 'big' });
      const r = await engine.run(plan, 1);
      expect(r.error).toBeUndefined();
      expect(r.status).toBe('completed');
      expect(r.output).toEqual({ n: BIG, small: 7, list: [-BIG] });

      const json = jsonText(runJson(r), 2) as string;
      expect(json).toContain(`"n": ${TEXT}`);
      expect(json).toContain(`-${TEXT}`);
      expect(parseJsonText(json)).toMatchObject({ output: { n: BIG, small: 7 } });

      const run = await state.readModels.getRun('big');
      expect(run?.outputPreview).toBe(`{"list":[-${TEXT}],"n":${TEXT},"small":7}`);
      const steps = await state.readModels.steps('big');
      const make = steps.find((s) => s.name === 'make');
      expect(make?.outputPreview).toContain(`"n":${TEXT}`);
      // lens show --json reads the preview back exactly.
      expect(stepJson(make!).output).toEqual({ list: [-BIG], n: BIG, small: 7 });
      expect(jsonText(stepJson(make!))).toContain(`"n":${TEXT}`);

      const events = await readRunEvents(state.ledger, 'big');
      const report = buildReport(events, await verifyStoredRun(state.ledger, 'big'));
      expect(jsonText(report, 2)).toContain(`"n": ${TEXT}`);
      expect(reportMarkdown(report)).toContain(TEXT);
      await state.rebuild();
      expect((await state.readModels.getRun('big'))?.outputPreview).toBe(run?.outputPreview);
    } finally {
      await state.close();
    }
  });
});

describe('jsonText / parseJsonText', () => {
  it('write a bigint as its digits and read back only unsafe integers as bigint', () => {
    expect(jsonText({ a: BIG, s: 'x', u: undefined })).toBe(`{"a":${TEXT},"s":"x"}`);
    expect(jsonText(1)).toBe('1');
    expect(jsonText(undefined)).toBeUndefined();
    // A string that looks like the token or holds digits stays a string.
    expect(jsonText({ s: TEXT, b: BIG })).toBe(`{"s":"${TEXT}","b":${TEXT}}`);
    expect(parseJsonText(`{"s":"${TEXT}","b":${TEXT},"f":1.5e300,"k":9007199254740991}`)).toEqual({
      s: TEXT,
      b: BIG,
      f: 1.5e300,
      k: 9007199254740991,
    });
  });
});
