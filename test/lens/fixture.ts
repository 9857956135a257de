/**
 * A lens test project on a real store: pipeline files the built CLI runs (`flujo run`), runs made
 * through the engine with a scripted model port (for costs), and helpers to spawn `flujo lens`.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { openState } from '../../src/adapters/ledger/state.js';
import type { Plan } from '../../src/dsl/ir.js';
import type { AgentPort } from '../../src/ports.js';
import { createEngine } from '../../src/runtime/engine.js';
import { CLI, runCli, type CliResult } from '../e2e/cli.js';
import { PG_URL, dropSchema, uniqueSchema } from '../support/services.js';

const DIST = fileURLToPath(new URL('../../dist/', import.meta.url));
const NOBLE = fileURLToPath(new URL('../../node_modules/@noble/hashes/blake3.js', import.meta.url));

/** flow.mjs: a function pipeline with a branch and a loop; input "fail" makes a step throw. */
export const flowSource = (branch: 'a' | 'b') => `
import { definePipeline, sequence, step, conditional, loop } from '${DIST}dsl/builder.js';
export default definePipeline('flow', sequence(
  step('prep', (x) => {
    if (x === 'fail') throw Object.assign(new Error('prep refused the input'), { retryable: false });
    return { n: Number(x) || 1, note: '<script>alert("x")</script>', pad: 'y'.repeat(200) };
  }),
  conditional('route', () => '${branch}', {
    a: step('A', (x) => ({ ...x, via: 'A' })),
    b: step('B', (x) => ({ ...x, via: 'B' })),
  }),
  loop('rep', step('inc', (x) => ({ ...x, n: x.n + 1 })), { maxLoops: 2 }),
)).plan;
`;

const hitlSource = `
import { definePipeline, sequence, step, flowOf } from '${DIST}dsl/builder.js';
const approve = flowOf(() => ({
  kind: 'hitl', name: 'approve', message: 'Ship it?',
  inputSchema: { type: 'object', properties: { ok: { type: 'boolean' } }, required: ['ok'] },
}));
export default definePipeline('review', sequence(
  step('draft', (x) => ({ draft: String(x) })),
  approve,
  step('publish', (x) => ({ published: x.ok })),
)).plan;
`;

/** A b3sum stand-in (BLAKE3 from @noble/hashes, not Flujo code) for machines without b3sum. */
const b3sumShim = `#!/usr/bin/env node
import { blake3 } from '${NOBLE}';
const chunks = [];
for await (const c of process.stdin) chunks.push(c);
process.stdout.write(Buffer.from(blake3(Buffer.concat(chunks))).toString('hex') + '\\n');
`;

export type Backend = 'sqlite' | 'postgres';

export interface LensProject {
  readonly dir: string;
  readonly uri: string;
  cli(args: string[], env?: NodeJS.ProcessEnv): CliResult;
  json<T = any>(args: string[]): T; // eslint-disable-line @typescript-eslint/no-explicit-any
  /** Starts `flujo …` without waiting; resolves when it exits. */
  spawnCli(args: string[]): Promise<CliResult>;
  writeFlow(branch: 'a' | 'b'): void;
  /**
   * `flujo lens rebuild`. Needed after `flujo run`/`flujo resume` for now: they append through
   * openLedger (src/cli/session.ts), which does not update the read models (docs/projections.md).
   */
  rebuild(): void;
  /** A folder with a `b3sum` (the stand-in) to put first on PATH. */
  readonly shimBin: string;
  cleanup(): Promise<void>;
}

export function makeProject(backend: Backend): LensProject {
  const dir = mkdtempSync(join(tmpdir(), `flujo-lens-${backend}-`));
  writeFileSync(join(dir, 'flujo.toml'), '# lens e2e project\n');
  writeFileSync(join(dir, 'hitl.mjs'), hitlSource);
  const shimBin = join(dir, 'bin');
  mkdirSync(shimBin);
  writeFileSync(join(shimBin, 'b3sum'), b3sumShim, { mode: 0o755 });
  const schema = backend === 'postgres' ? uniqueSchema('lens') : '';
  const uri =
    backend === 'postgres' ? `${PG_URL}?schema=${schema}` : `sqlite:///${join(dir, 'state.db')}`;
  const baseEnv = { FLUJO_STATE_URI: uri };
  const project: LensProject = {
    dir,
    uri,
    shimBin,
    cli: (args, env) => runCli(args, { cwd: dir, env: { ...baseEnv, ...env } }),
    json(args) {
      const r = project.cli([...args, '--json']);
      if (r.code !== 0 && r.stdout.trim() === '')
        throw new Error(`flujo ${args.join(' ')} exited ${r.code}: ${r.stderr}`);
      return JSON.parse(r.stdout);
    },
    spawnCli(args) {
      const env: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: '1', ...baseEnv };
      delete env.FLUJO_PROJECT_ROOT;
      const child = spawn(process.execPath, [CLI, ...args], { cwd: dir, env });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      return new Promise((done) => child.on('close', (code) => done({ code, stdout, stderr })));
    },
    rebuild() {
      const r = project.cli(['lens', 'rebuild']);
      if (r.code !== 0) throw new Error(`flujo lens rebuild exited ${r.code}: ${r.stderr}`);
    },
    writeFlow: (branch) => writeFileSync(join(dir, 'flow.mjs'), flowSource(branch)),
    async cleanup() {
      rmSync(dir, { recursive: true, force: true });
      if (schema) await dropSchema(schema);
    },
  };
  project.writeFlow('a');
  return project;
}

/**
 * Runs `plan` through the engine in this process on the project's state, with `agents`. The
 * ledger comes from openState, so the read models follow each append inline.
 */
export async function engineRun(
  project: LensProject,
  plan: Plan,
  input: unknown,
  agents?: AgentPort,
  runId?: string,
) {
  const state = await openState(project.uri, { projectRoot: project.dir });
  try {
    const engine = createEngine({
      ledger: state.ledger,
      ...(agents ? { agents } : {}),
      worker: 'test',
    });
    return await engine.run(plan, input, runId ? { runId } : {});
  } finally {
    await state.close();
  }
}
