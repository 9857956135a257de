/**
 * A run recorded by an earlier release, in a project's SQLite state file, through the built CLI
 * (ADR 84): `lens verify`, `lens replay`, `lens show`, `resume` and `lens replay` again.
 */
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { openState } from '../../src/adapters/ledger/state.js';
import { fromHex } from '../../src/events/chain.js';
import { decodeRecord } from '../../src/events/envelope.js';
import type { LedgerStore } from '../../src/ports.js';
import { COMPAT_DIR, type CompatLedger } from '../fixtures/compat/generate.js';
import { runCli } from './cli.js';
import { appendAsRecorded } from '../support/appendAsRecorded.js';

const RELEASE = 'a449bcd';
let p: string;

const fixture = (scenario: string, release = RELEASE) =>
  JSON.parse(readFileSync(join(COMPAT_DIR, release, `${scenario}.json`), 'utf8')) as CompatLedger;

/** The release's rows, appended commit by commit (one `at` each) as its engine did. */
async function appendRecorded(ledger: LedgerStore, l: CompatLedger) {
  const events = l.events.map((e) => decodeRecord(l.runId, e.seq, fromHex(e.body)));
  await appendAsRecorded(ledger, l.runId, events);
}

/** A project whose SQLite state holds these recorded runs, their blueprints where they say. */
async function projectOf(ledgers: CompatLedger[]): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'flujo-compat-'));
  writeFileSync(join(dir, 'flujo.toml'), '');
  const state = await openState('sqlite:///.flujo/state.db', { projectRoot: dir });
  try {
    for (const l of ledgers) {
      // Where the run says its pipeline is (RunStarted.source), relative to the project.
      mkdirSync(join(dir, 'test/fixtures/compat/blueprints'), { recursive: true });
      copyFileSync(join(COMPAT_DIR, 'blueprints', `${l.scenario}.yaml`), join(dir, l.blueprint));
      await appendRecorded(state.ledger, l);
    }
  } finally {
    await state.close();
  }
  return dir;
}

beforeAll(async () => {
  p = await projectOf(['hitl_object', 'paused_parallel'].map((s) => fixture(s)));
});
afterAll(() => rmSync(p, { recursive: true, force: true }));

const json = (args: string[], cwd = p) => {
  const r = runCli([...args, '--json'], { cwd });
  return { ...r, body: JSON.parse(r.stdout || 'null') as Record<string, unknown> };
};

describe.each(['hitl_object', 'paused_parallel'])(`a ${RELEASE} run paused in %s`, (scenario) => {
  const l = fixture(scenario);

  it('verifies, replays identically and shows the message it recorded', () => {
    expect(json(['lens', 'verify', l.runId])).toMatchObject({ code: 0, body: { ok: true } });
    const replay = json(['lens', 'replay', l.runId]);
    expect(replay.body).toMatchObject({ identical: true, events: l.events.length });
    expect(replay.code).toBe(0);
    const show = json(['lens', 'show', l.runId]);
    const old = l.lens as { run: { pause_message: string } };
    expect(show.body).toMatchObject({
      status: 'paused',
      run: { pause_message: old.run.pause_message },
    });
  });

  it("lens rebuild gives the steps its release's lens showed", () => {
    const steps = (body: Record<string, unknown>) =>
      (body.steps as { path: string; status: string }[]).map((x) => [x.path, x.status]);
    const rebuild = runCli(['lens', 'rebuild'], { cwd: p });
    expect(rebuild.code).toBe(0);
    const show = json(['lens', 'show', l.runId]);
    expect(steps(show.body)).toEqual(steps(l.lens as { steps: unknown[] }));
  });
});

describe(`a ${RELEASE} run paused on an object message`, () => {
  // Its steps are the builtin skills: flujo resume needs no model.
  const l = fixture('hitl_object');

  it('resumes to the output its release produced, and the whole run replays identically', () => {
    const r = l.resumed!;
    const resume = json(['resume', l.runId, '--input', JSON.stringify(r.answer)]);
    expect(resume.body).toMatchObject({ status: r.result.status, output: r.result.output });
    expect(resume.code).toBe(0);
    const replay = json(['lens', 'replay', l.runId]);
    expect(replay.body).toMatchObject({ identical: true });
    expect(replay.code).toBe(0);
  });
});

describe('an a2e5cd7 run whose hitl message lists its keys in another order (ADR 93)', () => {
  const l = fixture('hitl_object', 'a2e5cd7');
  let dir: string;
  beforeAll(async () => {
    dir = await projectOf([l]);
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('lens replay is identical and names the message it took as recorded, in JSON and text', () => {
    const replay = json(['lens', 'replay', l.runId], dir);
    expect(replay.code).toBe(0);
    expect(replay.body).toMatchObject({
      identical: true,
      as_recorded: [{ seq: 9, reason: 'message_key_order' }],
    });
    const text = runCli(['lens', 'replay', l.runId], { cwd: dir });
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(
      /is identical: \d+ events refolded\n {2}seq 9: the recorded hitl message lists the same value's keys in another order/,
    );
  });
});
