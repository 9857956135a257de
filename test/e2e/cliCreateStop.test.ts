/**
 * Stopping `flujo create`, as a person at a terminal does: the built CLI on a pseudo-terminal, the
 * real OpenAI SDK against the fake server. Ctrl-C or Ctrl-D at any of create's questions is
 * INTERRUPTED (exit 130) with nothing written; an Architect run the person stopped is cancelled,
 * by whom and why recorded, and `flujo resume` of one left behind says what to do (ADR 158).
 * Before: Ctrl-D at either question was `internal error … a bug in Flujo`, exit 1; a run stopped
 * at the plan approval stayed paused for good, and resume asked for a `--pipeline PATH` that does
 * not exist for the Architect.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';

import { startFakeLlm, type FakeLlm } from '../support/fakeLlm.js';
import { CLI, runCli } from './cli.js';
import { hasScript, onTerminal } from './terminal.js';

const PLAN = JSON.stringify({
  plan_summary: 'One step.',
  steps: [{ step_name: 'summarize', purpose: 'three bullets' }],
});

const VALID = [
  '```yaml',
  'version: "0.1"',
  'name: bullets',
  'steps:',
  '  - kind: step',
  '    name: one',
  '    agent: { id: flujo.builtins.stringify }',
  '    input: "{{ context.initial_prompt }}"',
  '```',
].join('\n');

const runIdIn = (output: string) => /Architect run ([0-9a-f-]{36})/.exec(output)?.[1] ?? '';

interface Cancelled {
  run: { status: string; cancelled?: { by: string; reason: string } };
}

describe('stopping flujo create', () => {
  let llm: FakeLlm;
  let p: string;
  beforeAll(async () => {
    llm = await startFakeLlm();
  });
  afterAll(() => llm.close());
  beforeEach(() => {
    p = mkdtempSync(join(tmpdir(), 'flujo-create-stop-'));
    writeFileSync(join(p, 'flujo.toml'), 'state_uri = "sqlite:///.flujo/state.db"\n');
    return () => rmSync(p, { recursive: true, force: true });
  });
  const env = (more: NodeJS.ProcessEnv = {}) => ({
    OPENAI_API_KEY: 'sk-test-secret-123456',
    OPENAI_BASE_URL: llm.openaiUrl,
    ...more,
  });
  const shown = (runId: string) =>
    JSON.parse(runCli(['lens', 'show', runId, '--json'], { cwd: p }).stdout) as Cancelled;

  it.skipIf(!hasScript)(
    'Ctrl-C or Ctrl-D at the goal question: INTERRUPTED, nothing written, no model called',
    async () => {
      const seen = llm.requests.length;
      for (const key of ['\x04', '\x03']) {
        const r = await onTerminal(['create'], p, 'What should the pipeline do?', key, env());
        expect(r.code, r.output).toBe(130);
        expect(r.output).toContain('error: [INTERRUPTED] interrupted; nothing was written');
        expect(r.output).not.toContain('internal error');
      }
      expect(llm.requests.length).toBe(seen);
      expect(existsSync(join(p, 'pipeline.yaml'))).toBe(false);
    },
  );

  it.skipIf(!hasScript)(
    'Ctrl-C or Ctrl-D at "Use this plan?": INTERRUPTED, and the Architect run is cancelled, by whom and why recorded',
    async () => {
      for (const key of ['\x04', '\x03']) {
        const seen = llm.requests.length;
        llm.script({ text: PLAN });
        const r = await onTerminal(
          ['create', '--goal', 'Summarize'],
          p,
          'Use this plan?',
          key,
          env({ FLUJO_CREATE_HITL: '1', USER: 'ada' }),
        );
        expect(r.code, r.output).toBe(130);
        const runId = runIdIn(r.output);
        expect(r.output).toContain(
          `interrupted at the plan approval; nothing was written, and the Architect run ${runId} is cancelled`,
        );
        expect(llm.requests.length - seen).toBe(1);
        expect(shown(runId).run).toMatchObject({
          status: 'cancelled',
          cancelled: {
            by: 'ada (flujo create)',
            reason: 'interrupted (Ctrl-C or Ctrl-D) at the plan approval',
          },
        });
        expect(runCli(['lens', 'verify', runId], { cwd: p }).code).toBe(0);
        expect(runCli(['lens', 'replay', runId], { cwd: p }).code).toBe(0);
      }
      expect(existsSync(join(p, 'pipeline.yaml'))).toBe(false);
    },
  );

  it('Ctrl-C while the Architect runs: INTERRUPTED, the run cancelled, nothing written', async () => {
    const seen = llm.requests.length;
    llm.script({ text: PLAN }, { text: VALID, delayMs: 30_000 });
    // Ctrl-C once the writer's call is out (its reply is 30 s away).
    const r = await interruptedOnceAsked(
      ['create', '--goal', 'Summarize', '--json'],
      p,
      {
        ...env({ USER: 'ada' }),
      },
      () => llm.requests.length >= seen + 2,
    );
    expect(r.code, r.stderr).toBe(130);
    const j = JSON.parse(r.stdout) as { run_id: string; error: { message: string } };
    expect(j).toMatchObject({ path: null, status: 'cancelled', error: { code: 'INTERRUPTED' } });
    expect(j.error.message).toBe(
      `interrupted while the Architect ran; nothing was written, and the Architect run ${j.run_id} is cancelled (flujo lens show ${j.run_id})`,
    );
    expect(shown(j.run_id).run).toMatchObject({
      status: 'cancelled',
      cancelled: {
        by: 'ada (flujo create)',
        reason: 'interrupted (Ctrl-C) while the Architect ran',
      },
    });
    expect(existsSync(join(p, 'pipeline.yaml'))).toBe(false);
  });

  it.skipIf(!hasScript)(
    'resume of an Architect run left at the plan approval (its terminal closed) says to run create again or cancel it',
    async () => {
      llm.script({ text: PLAN });
      const output = await hungUpAt(['create', '--goal', 'Summarize'], p, 'Use this plan?', {
        ...env({ FLUJO_CREATE_HITL: '1' }),
      });
      const runId = runIdIn(output);
      expect(shown(runId).run.status).toBe('paused');

      const r = runCli(['resume', runId, '--json'], { cwd: p });
      expect(r.code, r.stderr).toBe(1);
      expect(JSON.parse(r.stdout)).toMatchObject({
        run_id: runId,
        error: { code: 'RUN_NOT_RESUMABLE' },
      });
      expect(r.stderr).toContain(`run ${runId} is a flujo create run (the Architect)`);
      expect(r.stderr).toContain('flujo create --goal');
      expect(r.stderr).toContain(`end this run with: flujo cancel ${runId}`);
      expect(r.stderr).not.toContain('--pipeline PATH');

      expect(runCli(['cancel', runId], { cwd: p }).code).toBe(0);
      const ended = runCli(['resume', runId], { cwd: p });
      expect(ended.code).toBe(1);
      expect(ended.stderr).toContain('and it has ended: there is nothing to resume');
    },
  );
});

/**
 * `flujo ARGS` on a pseudo-terminal whose terminal goes away (util-linux `script` killed) once
 * `prompt` shows: the process is hung up on, as when a terminal window is closed.
 */
function hungUpAt(
  args: string[],
  cwd: string,
  prompt: string,
  env: NodeJS.ProcessEnv,
): Promise<string> {
  const quote = (a: string) => `'${a.replace(/'/g, `'\\''`)}'`;
  const cmd = [process.execPath, CLI, ...args].map(quote).join(' ');
  return new Promise((resolve, reject) => {
    const child = spawn('script', ['-qec', cmd, '/dev/null'], {
      cwd,
      env: { ...process.env, NO_COLOR: '1', ...env },
    });
    let output = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      output += d;
      if (output.includes(prompt)) child.kill('SIGKILL');
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.on('error', reject);
    child.on('close', () => {
      clearTimeout(timer);
      // The hung-up process ends on its own; the pause is recorded already.
      setTimeout(() => resolve(output), 500);
    });
  });
}

/** `flujo ARGS` (no terminal), sent SIGINT (Ctrl-C) once `ready()` holds. */
function interruptedOnceAsked(
  args: string[],
  cwd: string,
  env: NodeJS.ProcessEnv,
  ready: () => boolean,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const e: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: '1', ...env };
    delete e.FLUJO_STATE_URI;
    delete e.FLUJO_PROJECT_ROOT;
    const child = spawn(process.execPath, [CLI, ...args], { cwd, env: e });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const poll = setInterval(() => {
      if (!ready()) return;
      clearInterval(poll);
      child.kill('SIGINT');
    }, 20);
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearInterval(poll);
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
    child.stdin.end();
  });
}
