/**
 * DBOS peer: a registered workflow that runs N steps with `DBOS.runStep`, each returning x + 1,
 * on Postgres (the system database lives in a throwaway schema of the test database, dropped by
 * `close`). HITL: after step 4 the workflow sets the event `paused` and waits in
 * `DBOS.recv('answer')`; resume is `DBOS.send()` + `getResult()`. Start→pause waits for the event
 * with `DBOS.getEvent()` (DBOS's own notification path: LISTEN/NOTIFY plus polling).
 *
 * DBOS is process-global: `open` may be called once per process.
 */
import process from 'node:process';

import { DBOS } from '@dbos-inc/dbos-sdk';
import pg from 'pg';

import { versionOf } from './common.mjs';

export const name = 'DBOS';
export const versions = () => ['@dbos-inc/dbos-sdk', 'pg'].map((p) => versionOf(p)).join(', ');
export const variants = ['postgres'];

/** How long a paused workflow waits for its answer (s); long enough for the 1,000-run case. */
const RECV_TIMEOUT_S = 900;

async function linearBody(steps) {
  let x = 0;
  for (let i = 1; i <= steps; i++) {
    const before = x;
    x = await DBOS.runStep(async () => before + 1, { name: `s${i}` });
  }
  return x;
}

async function hitlBody() {
  let x = 0;
  for (let i = 1; i <= 10; i++) {
    if (i === 5) {
      await DBOS.setEvent('paused', true);
      const answer = await DBOS.recv('answer', RECV_TIMEOUT_S);
      if (!answer || answer.ok !== true) throw new Error('bad answer');
    }
    const before = x;
    x = await DBOS.runStep(async () => before + 1, { name: `s${i}` });
  }
  return x;
}

let opened = false;

/**
 * @param {'postgres'} _variant
 * @param {{ pgUrl: string }} ctx
 */
export async function open(_variant, ctx) {
  if (opened) throw new Error('DBOS: open() once per process');
  opened = true;
  const schema = `flujo_bench_dbos_${process.pid}`;
  const linear = DBOS.registerWorkflow(linearBody, { name: 'linear' });
  const hitl = DBOS.registerWorkflow(hitlBody, { name: 'hitl10' });
  DBOS.setConfig({
    name: 'flujo-bench',
    systemDatabaseUrl: ctx.pgUrl,
    systemDatabaseSchemaName: schema,
    logLevel: 'error',
    enableOTLP: false,
  });
  await DBOS.launch();
  const handles = new Map();
  const admin = new pg.Client({ connectionString: ctx.pgUrl });
  await admin.connect();
  return {
    label: 'DBOS (Postgres, synchronous_commit=on)',
    storage: 'postgres',
    async check() {
      const r = await admin.query('SHOW synchronous_commit');
      return `synchronous_commit=${r.rows[0].synchronous_commit}, schema ${schema}`;
    },
    async linear(steps) {
      const x = await linear(steps);
      if (x !== steps) throw new Error(`DBOS: got ${x}, wanted ${steps}`);
    },
    async hitlStart(id) {
      const workflowID = `hitl-${process.pid}-${id}`;
      handles.set(workflowID, await DBOS.startWorkflow(hitl, { workflowID })());
      const paused = await DBOS.getEvent(workflowID, 'paused', 60);
      if (paused !== true) throw new Error('DBOS: run did not pause');
    },
    async hitlResume(id) {
      const workflowID = `hitl-${process.pid}-${id}`;
      await DBOS.send(workflowID, { ok: true }, 'answer');
      // The handle from startWorkflow awaits the workflow in this process; a handle from
      // retrieveWorkflow would poll the database (about once a second).
      const handle = handles.get(workflowID) ?? DBOS.retrieveWorkflow(workflowID);
      handles.delete(workflowID);
      const x = await handle.getResult();
      if (x !== 10) throw new Error(`DBOS: resumed run ended with ${x}`);
    },
    async close() {
      await DBOS.shutdown();
      await admin.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
      await admin.end();
    },
  };
}
