/**
 * Mastra peer: a workflow of N steps chained with `.then()`, each returning `{ x: x + 1 }`, run
 * with `createRun()` + `start()`. HITL: step 5 calls `suspend()`; the run is resumed with
 * `createRun({ runId }).resume({ step, resumeData })`, which loads the snapshot from storage
 * (step 5 runs again).
 *
 * Variants: memory (Mastra's default InMemoryStore, not durable), NORMAL (LibSQLStore on a local
 * file: WAL, synchronous=NORMAL, as LibSQLStore sets it) and FULL (the same, then
 * `PRAGMA synchronous=FULL` on its client, read back to check).
 * MASTRA_TELEMETRY_DISABLED=1 must be set before this module is imported (run.ts does).
 */
import process from 'node:process';
import { setTimeout as delay } from 'node:timers/promises';

import { Mastra } from '@mastra/core/mastra';
import { createStep, createWorkflow } from '@mastra/core/workflows';
import { LibSQLStore } from '@mastra/libsql';
import { z } from 'zod';

import { versionOf } from './common.mjs';

export const name = 'Mastra';
export const versions = () =>
  ['@mastra/core', '@mastra/libsql', '@libsql/client'].map((p) => versionOf(p)).join(', ');
export const variants = ['memory', 'NORMAL', 'FULL'];

const X = z.object({ x: z.number() });
const Answer = z.object({ ok: z.boolean() });

const addOne = (id) =>
  createStep({
    id,
    inputSchema: X,
    outputSchema: X,
    execute: async ({ inputData }) => ({ x: inputData.x + 1 }),
  });

function linearWorkflow(steps) {
  let w = createWorkflow({ id: `linear${steps}`, inputSchema: X, outputSchema: X });
  for (let i = 1; i <= steps; i++) w = w.then(addOne(`s${i}`));
  return w.commit();
}

const ask = createStep({
  id: 's5',
  inputSchema: X,
  outputSchema: X,
  resumeSchema: Answer,
  suspendSchema: z.object({ message: z.string() }),
  execute: async ({ inputData, resumeData, suspend }) => {
    if (!resumeData) return await suspend({ message: 'ok?' });
    if (resumeData.ok !== true) throw new Error('bad answer');
    return { x: inputData.x + 1 };
  },
});

function hitlWorkflow() {
  let w = createWorkflow({ id: 'hitl10', inputSchema: X, outputSchema: X });
  for (let i = 1; i <= 10; i++) w = w.then(i === 5 ? ask : addOne(`s${i}`));
  return w.commit();
}

/**
 * @param {'memory' | 'NORMAL' | 'FULL'} variant
 * @param {{ dir: string }} ctx
 */
export async function open(variant, ctx) {
  const storage =
    variant === 'memory'
      ? undefined
      : new LibSQLStore({ id: `bench-${variant}`, url: `file:${ctx.dir}/mastra-${variant}.db` });
  const mastra = new Mastra({
    workflows: {
      linear10: linearWorkflow(10),
      linear100: linearWorkflow(100),
      hitl10: hitlWorkflow(),
    },
    ...(storage ? { storage } : {}),
    logger: false,
  });
  let client = null;
  if (storage) {
    await storage.init();
    client = storage.client;
    // Let the workflows domain's own PRAGMAs (set from its constructor) land first.
    await delay(50);
    if (variant === 'FULL') await client.execute('PRAGMA synchronous = FULL');
  }
  const linear = {
    10: mastra.getWorkflow('linear10'),
    100: mastra.getWorkflow('linear100'),
  };
  const hitl = mastra.getWorkflow('hitl10');
  return {
    label:
      variant === 'memory'
        ? 'Mastra, default InMemoryStore'
        : `Mastra LibSQLStore (WAL, ${variant})`,
    storage: variant,
    async check() {
      if (!client) return 'in memory';
      const sync = (await client.execute('PRAGMA synchronous')).rows[0];
      const journal = (await client.execute('PRAGMA journal_mode')).rows[0];
      return `journal_mode=${Object.values(journal)[0]}, synchronous=${Object.values(sync)[0]} (1=NORMAL, 2=FULL)`;
    },
    async linear(steps) {
      const run = await linear[steps].createRun();
      const res = await run.start({ inputData: { x: 0 } });
      if (res.status !== 'success' || res.result.x !== steps)
        throw new Error(`Mastra: ${res.status}, ${JSON.stringify(res.result)}`);
    },
    async hitlStart(id) {
      const run = await hitl.createRun({ runId: `hitl-${process.pid}-${id}` });
      const res = await run.start({ inputData: { x: 0 } });
      if (res.status !== 'suspended') throw new Error(`Mastra: run did not pause (${res.status})`);
    },
    async hitlResume(id) {
      const run = await hitl.createRun({ runId: `hitl-${process.pid}-${id}` });
      const res = await run.resume({ step: 's5', resumeData: { ok: true } });
      if (res.status !== 'success' || res.result.x !== 10)
        throw new Error(`Mastra: resumed run ended ${res.status}, ${JSON.stringify(res.result)}`);
    },
    async close() {
      client?.close();
    },
  };
}
