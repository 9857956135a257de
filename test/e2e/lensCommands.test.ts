/**
 * Every `flujo lens` command, spawned from the built CLI against a real SQLite file and a real
 * Postgres schema. Runs come from `flujo run`/`flujo resume` on pipeline files (function steps,
 * a branch, a loop, a human pause, a failure) and from the engine with a scripted model port.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { spawnSync } from 'node:child_process';
import { isDeepStrictEqual as isDeepEqual } from 'node:util';

import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { agentStep, definePipeline, sequence, step } from '../../src/dsl/builder.js';
import { decodeCanonical, encodeCanonical } from '../../src/events/codec.js';
import { initFastHash } from '../../src/events/chain.js';
import { scriptedAgents } from '../support/given.js';
import { postgresReachable } from '../support/services.js';
import {
  engineRun,
  flowSource,
  makeProject,
  type Backend,
  type LensProject,
} from '../lens/fixture.js';

const pgReachable = await postgresReachable();
const SCRIPT = join(import.meta.dirname, '../../scripts/verify-export.sh');
const hasB3sum = spawnSync('sh', ['-c', 'command -v b3sum']).status === 0;

/** A Postgres lens project's events in the order rebuild reads them: `txid pos run seq type`. */
async function pgOrder(project: LensProject): Promise<string> {
  const url = new URL(project.uri);
  const schema = url.searchParams.get('schema') ?? 'public';
  url.search = '';
  const client = new pg.Client({ connectionString: url.toString() });
  await client.connect();
  try {
    const res = await client.query<Record<string, string>>(
      `SELECT txid::text AS txid, pos::text AS pos, run_id, seq::text AS seq, type
         FROM "${schema}".events ORDER BY events.txid, events.pos`,
    );
    return res.rows.map((r) => `${r.txid} ${r.pos} ${r.run_id} ${r.seq} ${r.type}`).join('\n');
  } finally {
    await client.end();
  }
}

const modelPlan = definePipeline(
  'summarise',
  sequence(
    step('clean', (x: string) => x.trim()),
    agentStep('summary', 'openai:gpt-4o-mini', { retries: 1 }),
  ),
).plan;

for (const backend of ['sqlite', 'postgres'] as Backend[])
  describe.skipIf(backend === 'postgres' && !pgReachable)(
    `flujo lens on ${backend} (built CLI)`,
    () => {
      let p: LensProject;
      const ids = { ok: '', failed: '', paused: '', model: '' };

      beforeAll(async () => {
        await initFastHash();
        p = makeProject(backend);
        const ok = p.cli(['run', 'flow.mjs', '-i', '3', '--json']);
        expect(ok.code, ok.stderr).toBe(0);
        ids.ok = JSON.parse(ok.stdout).run_id;
        const failed = p.cli(['run', 'flow.mjs', '-i', 'fail', '--json']);
        expect(failed.code).toBe(1);
        ids.failed = JSON.parse(failed.stdout).run_id;
        const paused = p.cli(['run', 'hitl.mjs', '-i', 'hello', '--json']);
        expect(JSON.parse(paused.stdout).status).toBe('paused');
        ids.paused = JSON.parse(paused.stdout).run_id;
        // `flujo run` and the engine below both write through openState: no rebuild needed.
        const { port } = scriptedAgents({
          'openai:gpt-4o-mini': (input, attempt) => {
            if (attempt === 1) throw Object.assign(new Error('rate limited'), { retryable: true });
            return `summary of ${String(input)}`;
          },
        });
        ids.model = (await engineRun(p, modelPlan, '  some text ', port, 'model-run-1')).runId;
      }, 120_000);
      afterAll(async () => {
        await p?.cleanup();
      });

      it('lists runs newest first with the contract fields, and filters them', () => {
        const all = p.json<Record<string, unknown>[]>(['lens', 'list']);
        expect(all.map((r) => r.run_id).sort()).toEqual(Object.values(ids).sort());
        expect(all[0]).toMatchObject({
          run_id: ids.model,
          pipeline: 'summarise',
          status: 'completed',
        });
        for (const r of all) {
          expect(Object.keys(r)).toEqual(
            expect.arrayContaining([
              'run_id',
              'pipeline',
              'status',
              'started_at',
              'ended_at',
              'cost_usd',
              'tokens',
            ]),
          );
        }
        expect(
          p.json(['lens', 'list', '--status', 'failed']).map((r: { run_id: string }) => r.run_id),
        ).toEqual([ids.failed]);
        expect(p.json(['lens', 'list', '--pipeline', 'review'])).toMatchObject([
          { run_id: ids.paused, status: 'paused' },
        ]);
        expect(p.json(['lens', 'list', '--limit', '2'])).toHaveLength(2);
        expect(p.json(['lens', 'list', '--since', '1h'])).toHaveLength(4);
        expect(p.json(['lens', 'list', '--since', '2999-01-01'])).toHaveLength(0);
        const text = p.cli(['lens', 'list']);
        expect(text.stdout).toMatch(/RUN\s+PIPELINE\s+STATUS/);
        expect(text.stdout).toContain(ids.failed);
        const bad = p.cli(['lens', 'list', '--since', 'yesterday']);
        expect(bad.code).toBe(2);
        expect(bad.stderr).toMatch(/--since yesterday is neither an ISO date .* nor a duration/);
        expect(p.cli(['lens', 'list', '--status', 'done']).code).toBe(2);
      });

      it('shows a failed run failures first, with the failing step input inline', () => {
        const prefix = ids.failed.slice(0, 8);
        const show = p.json(['lens', 'show', prefix]);
        expect(show).toMatchObject({
          run_id: ids.failed,
          status: 'failed',
          run: { status: 'failed' },
        });
        expect(show.failures).toMatchObject([
          {
            path: '0',
            name: 'prep',
            status: 'failed',
            input: 'fail',
            error: { message: expect.stringContaining('prep refused the input') },
          },
        ]);
        const text = p.cli(['lens', 'show', prefix]).stdout;
        expect(text.split('\n')[0]).toMatch(/^✗ run failed/);
        expect(text.indexOf('✗ step 0 prep')).toBeLessThan(text.indexOf('steps ('));
      });

      it('shows steps with input and output inline, in full with --verbose', () => {
        const show = p.json(['lens', 'show', ids.ok]);
        expect(show.run).toMatchObject({ status: 'completed', input: '3' });
        expect(show.steps.map((s: { path: string }) => s.path)).toEqual([
          '0',
          '1',
          '1/a',
          '2',
          '2/body@1',
          '2/body@2',
        ]);
        expect(show.steps[4]).toMatchObject({ name: 'inc', status: 'completed', truncated: true });
        expect(show.steps[4].input).toMatch(/^\{"n":3,"note":.*…$/);
        const full = p.json(['lens', 'show', ids.ok, '--verbose']);
        expect(full.steps[4]).toMatchObject({
          truncated: false,
          input: { n: 3, via: 'A', pad: 'y'.repeat(200) },
          output: { n: 4, via: 'A', pad: 'y'.repeat(200) },
        });
        const verbose = p.cli(['lens', 'show', ids.ok, '--verbose']).stdout;
        // Previews are cut at 100 characters; --verbose prints the full values from the events.
        expect(verbose).toContain(`"pad":"${'y'.repeat(200)}"`);
        const brief = p.cli(['lens', 'show', ids.ok]).stdout;
        expect(brief).not.toContain('y'.repeat(200));
        expect(brief).toMatch(/out: \{.*…\n/);
      });

      it('shows and traces a paused run with its question', () => {
        const show = p.json(['lens', 'show', ids.paused]);
        expect(show).toMatchObject({
          status: 'paused',
          hitl: [{ path: '1', step: 'approve', message: 'Ship it?', status: 'pending' }],
        });
        expect(p.cli(['lens', 'show', ids.paused]).stdout).toMatch(
          /⏸ waiting at 1 approve: Ship it\?\n\s+answer with: flujo resume/,
        );
        const trace = p.json(['lens', 'trace', ids.paused]);
        expect(trace.attributes['flujo.run.status']).toBe('paused');
        const approve = trace.children.find((s: { name: string }) => s.name === 'approve');
        expect(approve).toMatchObject({
          status: 'running',
          attributes: { 'flujo.step.type': 'hitl' },
        });
        expect(approve.events).toContainEqual(
          expect.objectContaining({ name: 'flujo.paused', attributes: { message: 'Ship it?' } }),
        );
        expect(p.cli(['lens', 'trace', ids.paused]).stdout).toContain('⏸ paused: Ship it?');
      });

      it('traces a run as trace-contract spans nested by path: branch, loop iterations, retries, costs', () => {
        const root = p.json(['lens', 'trace', ids.ok]);
        expect(root).toMatchObject({
          name: 'pipeline_run',
          parent_span_id: null,
          status: 'completed',
          attributes: {
            'flujo.run_id': ids.ok,
            'flujo.pipeline.name': 'flow',
            'flujo.input': '3',
            'flujo.yaml.path': 'flow.mjs',
          },
        });
        expect(root.children.map((s: { name: string }) => s.name)).toEqual([
          'prep',
          'route',
          'rep',
        ]);
        const [prep, route, rep] = root.children;
        expect(prep).toMatchObject({
          span_id: '0',
          attributes: { 'flujo.step.id': '0', 'flujo.attempt_number': 1, success: true },
        });
        expect(prep.events.map((e: { name: string }) => e.name)).toEqual([
          'agent.input',
          'agent.response',
          'agent.usage',
        ]);
        expect(route.attributes['flujo.branch']).toBe('a');
        expect(route.children).toMatchObject([{ name: 'A', parent_span_id: '1' }]);
        expect(
          rep.events.filter((e: { name: string }) => e.name === 'loop.iteration'),
        ).toHaveLength(2);
        expect(
          rep.children.map((s: { span_id: string; attributes: Record<string, unknown> }) => [
            s.span_id,
            s.attributes['flujo.loop.iteration'],
          ]),
        ).toEqual([
          ['2/body@1', 1],
          ['2/body@2', 2],
        ]);
        const model = p.json(['lens', 'trace', 'model-run']);
        const summary = model.children[1];
        expect(summary).toMatchObject({
          name: 'summary',
          attributes: {
            'flujo.retries': 1,
            'flujo.attempt_number': 2,
            'flujo.budget.actual_cost_usd': 0.0015,
          },
        });
        expect(summary.events).toContainEqual(
          expect.objectContaining({
            name: 'flujo.retry',
            attributes: expect.objectContaining({ reason: 'rate limited' }),
          }),
        );
        const text = p.cli(['lens', 'trace', ids.ok]).stdout;
        expect(text).toMatch(/├─ ✓ route \[conditional\] \S+ branch=a\n│ {2}└─ ✓ A \[step\]/);
        expect(text).toContain('└─ ✓ rep [loop]');
        expect(text).toContain('iterations=2');
        expect(p.cli(['lens', 'trace', 'model-run']).stdout).toMatch(
          /summary \[step\] .*\$0\.0015 .*retries=1/,
        );
      });

      it('replays offline: identical exits 0; a changed decision exits 1 with the first divergence', () => {
        const same = p.cli(['lens', 'replay', ids.ok, '--json']);
        expect(same.code).toBe(0);
        expect(JSON.parse(same.stdout)).toEqual({
          run_id: ids.ok,
          identical: true,
          events: expect.any(Number),
          output: { n: 5, via: 'A', note: '<script>alert("x")</script>', pad: 'y'.repeat(200) },
        });
        writeFileSync(join(p.dir, 'flow-b.mjs'), flowSource('b'));
        const viaFlag = p.cli(['lens', 'replay', ids.ok, '--pipeline', 'flow-b.mjs', '--json']);
        expect(viaFlag.code).toBe(1);
        p.writeFlow('b');
        try {
          const diverged = p.cli(['lens', 'replay', ids.ok.slice(0, 8), '--json']);
          expect(diverged.code).toBe(1);
          const body = JSON.parse(diverged.stdout);
          expect(body).toMatchObject({
            run_id: ids.ok,
            identical: false,
            first_divergence: {
              seq: expect.any(Number),
              recorded: { type: 'BranchSelected', data: { branch: 'a' } },
              expected: { type: 'BranchSelected', data: { branch: 'b' } },
            },
          });
          expect(body).toEqual(JSON.parse(viaFlag.stdout));
          expect(p.cli(['lens', 'replay', ids.ok]).stdout).toMatch(/diverges at seq \d+/);
        } finally {
          p.writeFlow('a');
        }
        const noFile = p.cli(['lens', 'replay', ids.model]);
        expect(noFile.code).toBe(2);
        expect(noFile.stderr).toContain('--pipeline FILE');
      });

      it('exports a run that verifies with no database, and names the seq of a tampered record', () => {
        const file = join(p.dir, 'run.cbor');
        const exp = p.cli(['lens', 'export', ids.ok, '-o', file, '--json']);
        expect(exp.code).toBe(0);
        const summary = JSON.parse(exp.stdout);
        const ok = p.cli(['lens', 'verify', '--file', file, '--json'], {
          FLUJO_STATE_URI: 'mysql://nowhere',
        });
        expect(ok.code).toBe(0);
        expect(JSON.parse(ok.stdout)).toMatchObject({
          ok: true,
          run_id: ids.ok,
          events_checked: summary.records,
          head_hash: summary.head_hash,
          failures: [],
        });
        // The same bytes through stdout: the export is a pure function of the stored records.
        const piped = spawnSync(
          process.execPath,
          [join(import.meta.dirname, '../../dist/cli/main.js'), 'lens', 'export', ids.ok],
          {
            cwd: p.dir,
            env: { ...process.env, FLUJO_STATE_URI: p.uri },
          },
        );
        expect(Buffer.compare(piped.stdout, readFileSync(file))).toBe(0);

        const [header, records] = decodeCanonical(readFileSync(file)) as [
          unknown,
          [number, Uint8Array, Uint8Array][],
        ];
        const victim = records[6] as [number, Uint8Array, Uint8Array];
        const env = decodeCanonical(victim[1]) as { data: Record<string, unknown> };
        env.data = { ...env.data, output: { forged: true } };
        victim[1] = encodeCanonical(env as never);
        const tampered = join(p.dir, 'tampered.cbor');
        writeFileSync(tampered, encodeCanonical([header, records] as never));
        const bad = p.cli(['lens', 'verify', '--file', tampered, '--json']);
        expect(bad.code).toBe(1);
        expect(JSON.parse(bad.stdout)).toMatchObject({
          ok: false,
          failures: [{ run_id: ids.ok, seq: victim[0], reason: 'body_altered' }],
        });
        expect(p.cli(['lens', 'verify', '--file', tampered]).stdout).toContain(
          `seq ${victim[0]}: body_altered`,
        );
        writeFileSync(join(p.dir, 'junk.cbor'), 'not cbor');
        const junk = p.cli(['lens', 'verify', '--file', 'junk.cbor']);
        expect(junk.code).toBe(1);
        expect(junk.stderr).toMatch(/not a Flujo run export.*flujo lens export RUN > run.cbor/);

        // The auditor's path: xxd and b3sum only (a BLAKE3 stand-in when b3sum is not installed).
        const PATH = hasB3sum ? process.env.PATH : `${p.shimBin}:${process.env.PATH}`;
        const script = (f: string) =>
          spawnSync('bash', [SCRIPT, f], { encoding: 'utf8', env: { ...process.env, PATH } });
        const indep = script(file);
        expect(indep.status, indep.stderr).toBe(0);
        expect(indep.stdout.trim()).toBe(
          `ok ${ids.ok} ${summary.records} events ${summary.head_hash}`,
        );
        const caught = script(tampered);
        expect(caught.status).toBe(1);
        expect(caught.stderr).toContain(`seq ${victim[0]}: hash does not match body`);
      });

      it('sums costs by model, pipeline, step and day, over all runs or one', () => {
        const byModel = p.json(['lens', 'costs', '--by', 'model']);
        expect(byModel.by).toBe('model');
        expect(byModel.rows).toContainEqual(
          expect.objectContaining({ key: 'openai:gpt-4o-mini', cost_usd: 0.0015 }),
        );
        expect(byModel.total.cost_usd).toBeCloseTo(0.0015, 9);
        const byPipeline = p.json(['lens', 'costs', '--by', 'pipeline']);
        expect(byPipeline.rows).toContainEqual(
          expect.objectContaining({ key: 'summarise', cost_usd: 0.0015 }),
        );
        const oneRun = p.json(['lens', 'costs', ids.ok, '--by', 'step']);
        expect(oneRun).toMatchObject({ run_id: ids.ok, total: { cost_usd: 0 } });
        const day = p.json(['lens', 'costs', '--by', 'day']);
        expect(day.rows[0].key).toMatch(/^\d{4}-\d{2}-\d{2}$/);
        expect(p.cli(['lens', 'costs', '--by', 'colour']).code).toBe(2);
        expect(p.cli(['lens', 'costs']).stdout).toMatch(/openai:gpt-4o-mini\s+\d+/);
      });

      it('reports a paused run as pending and, after resume, who answered', () => {
        const before = p.json(['lens', 'report', ids.paused]);
        expect(before.decisions).toMatchObject([
          { step: 'approve', message: 'Ship it?', status: 'pending', answered_by: null },
        ]);
        expect(p.cli(['lens', 'report', ids.paused]).stdout).toContain('**pending**');
        const resumed = p.cli([
          'resume',
          ids.paused,
          '--input',
          '{"ok":true}',
          '--by',
          'alice',
          '--json',
        ]);
        expect(resumed.code, resumed.stderr).toBe(0);
        const after = p.json(['lens', 'report', ids.paused, '--format', 'json']);
        expect(after.run).toMatchObject({ status: 'completed', output: { published: true } });
        expect(after.decisions).toMatchObject([
          {
            status: 'answered',
            answer: { ok: true },
            answered_by: 'alice',
            answered_at: expect.any(String),
          },
        ]);
        expect(after.chain).toMatchObject({
          verified: true,
          head_hash: expect.stringMatching(/^[0-9a-f]{64}$/),
        });
        expect(after.steps[0].attempts[0].prompt_hash).toMatch(/^[0-9a-f]{64}$/);
        const md = p.cli(['lens', 'report', ids.paused]).stdout;
        expect(md).toContain('answered by **alice**');
        const show = p.json(['lens', 'show', ids.paused]);
        expect(show.hitl).toMatchObject([{ status: 'answered', answered_by: 'alice' }]);
        const trace = p.json(['lens', 'trace', ids.paused]);
        const approve = trace.children.find((s: { name: string }) => s.name === 'approve');
        expect(approve.events).toContainEqual(
          expect.objectContaining({
            name: 'flujo.resumed',
            attributes: { human_input: { ok: true }, by: 'alice' },
          }),
        );
      });

      it('writes a self-contained HTML report that escapes run data', () => {
        const out = join(p.dir, 'report.html');
        const r = p.cli(['lens', 'report', ids.ok, '--format', 'html', '-o', out]);
        expect(r.code).toBe(0);
        const html = readFileSync(out, 'utf8');
        expect(html).toMatch(/^<!doctype html>/);
        expect(html).toContain('&lt;script&gt;alert(\\&quot;x\\&quot;)&lt;/script&gt;');
        expect(html).not.toMatch(/<script|<link|<img|<iframe|src=|href=|url\(|@import/i);
        expect(html).toContain('<style>');
        expect(html).toContain('intact');
        const model = p.json(['lens', 'report', 'model-run']);
        expect(model.steps[1].attempts).toMatchObject([
          { attempt: 1, agent: 'openai:gpt-4o-mini', error: { message: 'rate limited' } },
          {
            attempt: 2,
            model: 'openai:gpt-4o-mini',
            output: 'summary of some text',
            cost_usd: 0.0015,
          },
        ]);
        expect(model.budget).toMatchObject({ spent_usd: 0.0015, tokens: { input: 10, output: 5 } });
        expect(p.cli(['lens', 'report', ids.ok, '--format', 'pdf']).code).toBe(2);
      });

      it.runIf(backend === 'sqlite')(
        'reports a tampered run as failing verification, up to the first bad seq, and exits 1',
        async () => {
          const r = p.cli(['run', 'flow.mjs', '-i', '7', '--json']);
          const runId = JSON.parse(r.stdout).run_id as string;
          const { default: Database } = await import('better-sqlite3');
          const db = new Database(join(p.dir, 'state.db'));
          db.prepare('UPDATE events SET hash = zeroblob(32) WHERE run_id = ? AND seq = 5').run(
            runId,
          );
          db.close();
          const report = p.cli(['lens', 'report', runId, '--json']);
          expect(report.code).toBe(1);
          const body = JSON.parse(report.stdout);
          expect(body.chain).toMatchObject({
            verified: false,
            failure: { seq: 5, reason: 'hash_altered' },
          });
          expect(body.run.status).toBe('running');
          expect(p.cli(['lens', 'report', runId]).stdout).toContain(
            '**FAILED** at seq 5: hash_altered',
          );
          expect(p.cli(['lens', 'verify', runId]).code).toBe(1);
        },
      );

      it('watches a finished run to its end, in text and JSON lines', () => {
        const text = p.cli(['lens', 'watch', ids.ok]);
        expect(text.code).toBe(0);
        expect(text.stdout).toMatch(
          /▶ 1\/a A \[step\][\s\S]*✓ 2\/body@2 inc[\s\S]*✓ run completed/,
        );
        const lines = p.cli(['lens', 'watch', ids.failed, '--json']);
        expect(lines.code).toBe(1);
        const events = lines.stdout
          .trim()
          .split('\n')
          .map((l) => JSON.parse(l));
        expect(events.at(-1)).toMatchObject({ event: 'RunFailed' });
        expect(events).toContainEqual(
          expect.objectContaining({ event: 'StepFailed', path: '0', step: 'prep' }),
        );
      });

      it('follows a live run as it is recorded and stops when it rests', async () => {
        let finishedAt = 0;
        const slow = definePipeline(
          'slow',
          sequence(
            step('first', (x: string) => x),
            step('wait', async (x: string) => {
              await sleep(2500);
              return x;
            }),
            step('last', (x: string) => `${x}!`),
          ),
        ).plan;
        const run = engineRun(p, slow, 'go', undefined, 'live-run-1').then((r) => {
          finishedAt = Date.now();
          return r;
        });
        await sleep(700);
        const spawnedAt = Date.now();
        const watched = await p.spawnCli([
          'lens',
          'watch',
          'live-run',
          '--json',
          '--interval',
          '50',
        ]);
        expect((await run).status).toBe('completed');
        expect(spawnedAt).toBeLessThan(finishedAt);
        expect(watched.code, watched.stderr).toBe(0);
        const events = watched.stdout
          .trim()
          .split('\n')
          .map((l) => JSON.parse(l));
        expect(events.map((e) => `${e.event} ${e.step ?? ''}`.trim())).toEqual(
          expect.arrayContaining(['StepCompleted wait', 'StepCompleted last', 'RunCompleted']),
        );
        expect(events.at(-1)).toMatchObject({ event: 'RunCompleted', output: 'go!' });
      }, 30_000);

      it('rebuilds the read models and answers the same afterwards', async () => {
        const before = p.json(['lens', 'list']);
        const r = p.cli(['lens', 'rebuild', '--json']);
        expect(r.code, r.stderr).toBe(0);
        expect(JSON.parse(r.stdout)).toHaveProperty('elapsed_ms');
        // On Postgres this failed whenever the database's transaction ids crossed 10^n during the
        // suite: the rebuild sorted them as text (test/projections/postgres.test.ts pins it).
        // Should it fail again, the message shows the order of the events by commit.
        const after = p.json(['lens', 'list']);
        const order = backend === 'postgres' && !isDeepEqual(after, before) ? await pgOrder(p) : '';
        expect(after, order).toEqual(before);
      });

      it('says what to do next for an unknown run, and keeps colour off under NO_COLOR', () => {
        for (const cmd of ['show', 'trace', 'replay', 'report', 'watch', 'costs']) {
          const r = p.cli(['lens', cmd, 'zzzz']);
          expect(r.code, cmd).toBe(1);
          expect(r.stderr).toMatch(/no run matches "zzzz"; list runs with: flujo lens list/);
        }
        const plain = p.cli(['lens', 'trace', ids.ok], { NO_COLOR: '1', FORCE_COLOR: '1' });
        expect(plain.stdout).not.toContain('\x1b[');
        const coloured = p.cli(['lens', 'trace', ids.ok], { NO_COLOR: '', FORCE_COLOR: '1' });
        expect(coloured.stdout).toContain('\x1b[32m✓');
      });
    },
  );
