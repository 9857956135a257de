/**
 * `flujo lens watch RUN [--json] [--all] [--interval MS]`: follows a run as it is recorded
 * (polling its ledger, so it works across processes and on every store) and prints each step as
 * it happens, until the run rests: completed, failed, cancelled or paused for a person. The text
 * leaves out the steps the engine made and counts them last, unless `--all` (ADR 88); `--json`
 * prints one JSON object per line, every step's. Exit 0 when the run completed or paused, 1 when
 * it failed or was cancelled.
 */
import { setTimeout as sleep } from 'node:timers/promises';

import { freshLedger } from '../../adapters/ledger/copyRefresh.js';
import { ExitCode } from '../../errors.js';
import { decodeRecord, type LedgerEvent } from '../../events/envelope.js';
import { engineStepsLine } from '../../lens/engineSteps.js';
import { duration, inLine, preview, usd } from '../../lens/format.js';
import { liveKinds } from '../../lens/liveKinds.js';
import { liveSteps, type LiveSteps } from '../../lens/liveSteps.js';
import type { LedgerStore } from '../../ports.js';
import { recordedStart } from '../../runtime/verifyLedger.js';
import type { Output } from '../output.js';
import { exampleAnswerWord } from '../runReport.js';
import { flujoCommand, runIdWords, shellWord } from '../shell.js';
import { openLensLedger, usage, withRun, type LensFlags } from './lensCommon.js';

export interface LensWatchFlags extends LensFlags {
  readonly interval?: string;
  /** Show the steps the engine made too (ADR 88). */
  readonly all?: boolean;
}

interface Line {
  readonly seq: number;
  readonly at: string;
  readonly event: string;
  readonly path?: string;
  readonly step?: string;
  readonly [k: string]: unknown;
}

/** What a watcher shows for one event, or null for bookkeeping it skips. */
function lineOf(e: LedgerEvent, names: Map<string, { name: string; at: number }>): Line | null {
  const base = { seq: e.seq, at: new Date(e.at).toISOString(), event: e.type };
  const step = (path: string) => ({ path, step: names.get(path)?.name ?? path });
  switch (e.type) {
    case 'RunStarted':
      return { ...base, pipeline: e.data.pipeline.name, input: e.data.input };
    case 'StepScheduled':
      names.set(e.data.path, { name: e.data.name, at: e.at });
      return e.data.path === '.' ? null : { ...base, ...step(e.data.path), kind: e.data.kind };
    case 'AgentResponded':
      return {
        ...base,
        ...step(e.data.path),
        attempt: e.data.attempt,
        model: e.data.model,
        cost_usd: e.data.costMicros / 1e6,
        output: e.data.output,
      };
    case 'AgentFailed':
      return { ...base, ...step(e.data.path), attempt: e.data.attempt, error: e.data.error };
    case 'BranchSelected':
      return { ...base, ...step(e.data.path), branch: e.data.branch };
    case 'LoopIterationStarted':
      return { ...base, ...step(e.data.path), iteration: e.data.iteration };
    case 'HumanInputRequested':
      return { ...base, ...step(e.data.path), message: e.data.message };
    case 'HumanInputReceived':
      return { ...base, ...step(e.data.path), input: e.data.input, by: e.data.by ?? null };
    case 'StepCompleted':
      if (e.data.path === '.') return null;
      return {
        ...base,
        ...step(e.data.path),
        duration_ms: e.at - (names.get(e.data.path)?.at ?? e.at),
        output: e.data.output,
      };
    case 'StepFailed':
      return {
        ...base,
        ...step(e.data.path),
        duration_ms: e.at - (names.get(e.data.path)?.at ?? e.at),
        error: e.data.error,
      };
    case 'RunPaused':
      return { ...base, ...step(e.data.path), reason: e.data.reason };
    case 'RunResumed':
      return { ...base, reason: e.data.reason };
    case 'RunCompleted':
      return { ...base, output: e.data.output };
    case 'RunFailed':
      return { ...base, error: e.data.error };
    case 'RunCancelled':
      return { ...base, reason: e.data.reason ?? null, by: e.data.by ?? null };
    default:
      return null;
  }
}

/**
 * The command that answers the question a run paused at: the whole run id, an answer its schema
 * takes (as `flujo run` prints it), and `--question` when other questions are open too.
 */
function answerCommand(runId: string, path: string | undefined, open: Map<string, unknown>) {
  const schema = path !== undefined ? open.get(path) : undefined;
  const which = open.size > 1 && path !== undefined ? ` --question ${shellWord(path)}` : '';
  return flujoCommand(
    `resume${which} --input ${exampleAnswerWord(schema ?? {})} ${runIdWords(runId)}`,
  );
}

function text(l: Line, out: Output, answer = 'flujo resume RUN --input …'): string {
  const t = l.at.slice(11, 23);
  const who = l.path !== undefined ? `${l.path} ${l.step}` : '';
  const err = l.error as { code: string; message: string } | undefined;
  switch (l.event) {
    case 'RunStarted':
      return `${t}  run started: ${String(l.pipeline)} ${preview(l.input, 80)}`;
    case 'StepScheduled':
      return `${t}  ▶ ${who} [${String(l.kind)}]`;
    case 'AgentResponded':
      return `${t}    ← ${who} ${String(l.model)}${Number(l.cost_usd) > 0 ? ` ${usd(Math.round(Number(l.cost_usd) * 1e6))}` : ''}: ${preview(l.output, 80)}`;
    case 'AgentFailed':
      return `${t}    ${out.color.bad('✗')} ${who} attempt ${String(l.attempt)}: ${err?.code} ${err?.message}`;
    case 'BranchSelected':
      return `${t}    ⑂ ${who} took branch ${String(l.branch)}`;
    case 'LoopIterationStarted':
      return `${t}    ↻ ${who} iteration ${String(l.iteration)}`;
    case 'HumanInputRequested':
      return `${t}  ⏸ ${who} asks: ${String(l.message)}`;
    case 'HumanInputReceived':
      // Who answered, in its line: a newline in it printed a line of its own.
      return `${t}  ▶ ${who} answered${l.by ? ` by ${inLine(String(l.by))}` : ''}: ${preview(l.input, 80)}`;
    case 'StepCompleted':
      return `${t}  ${out.color.ok('✓')} ${who} ${duration(Number(l.duration_ms))}`;
    case 'StepFailed':
      return `${t}  ${out.color.bad('✗')} ${who} ${duration(Number(l.duration_ms))}: ${err?.code} ${err?.message}`;
    case 'RunPaused':
      return `${t}  run paused at ${who}; answer with: ${answer}`;
    case 'RunResumed':
      return `${t}  run resumed (${String(l.reason)})`;
    case 'RunCompleted':
      return `${t}  ${out.color.ok('✓')} run completed: ${preview(l.output, 100)}`;
    case 'RunFailed':
      return `${t}  ${out.color.bad('✗')} run failed: ${err?.code} ${err?.message}`;
    default:
      return `${t}  run cancelled${l.by ? ` by ${inLine(String(l.by))}` : ''}${l.reason ? `: ${inLine(String(l.reason))}` : ''}`;
  }
}

/** Run-level lines, and a person's question and answer, show whichever step they name. */
const ABOUT_THE_RUN = new Set(['HumanInputRequested', 'HumanInputReceived', 'RunPaused']);

/** The events after which a run rests (ends, or waits for a person). */
const RESTS = new Set(['RunCompleted', 'RunPaused', 'RunFailed', 'RunCancelled']);

/** Whether a text line shows now, is left out, or waits until its sequence is settled. */
function verdictOf(l: Line, live: LiveSteps): 'show' | 'hide' | 'hold' {
  if (l.path === undefined || ABOUT_THE_RUN.has(l.event)) return 'show';
  if (l.event === 'StepScheduled') return live.scheduled(l.path, String(l.step), String(l.kind));
  if (l.event === 'StepFailed') return live.failed(l.path, (l.error as { code?: string }).code);
  return live.line(l.path);
}

export async function lensWatch(run: string, flags: LensWatchFlags, out: Output): Promise<number> {
  const interval = flags.interval === undefined ? 250 : Number(flags.interval);
  if (!Number.isInteger(interval) || interval < 10)
    throw usage('--interval takes milliseconds (at least 10)');
  return withRun(flags, run, async ({ cfg, ledger: opened, runId }) => {
    // A SQLite file read from a copy in memory (a user who may only read it, ADR 94) is read
    // again when it changes, or the watcher would never see the run go on. The copy replaced is
    // closed then, the first (withRun's) too, so one copy is held at a time (ADR 104).
    let ledger: LedgerStore = opened;
    // A run whose RunStarted (or every event) was removed is named, not followed from whatever
    // event comes first (or waited on for ever when none is stored; ADR 124).
    await recordedStart(opened, runId, 'nothing was watched');
    try {
      return await follow();
    } finally {
      if (ledger !== opened) await ledger.close();
    }
    async function refresh(): Promise<void> {
      ledger = await freshLedger(ledger, () => openLensLedger(cfg, { readOnly: true }));
    }
    async function follow(): Promise<number> {
      const names = new Map<string, { name: string; at: number }>();
      const open = new Map<string, unknown>();
      // The text leaves engine steps out (ADR 88); a sequence's line waits until it is settled.
      const live = flags.json || flags.all ? undefined : liveSteps();
      const held = new Map<string, string>();
      const release = (paths: readonly string[]) => {
        for (const p of paths) {
          const t = held.get(p);
          if (t !== undefined) out.data(t);
          held.delete(p);
        }
      };
      const print = ({ line, answer }: { line: Line; answer: string | undefined }) => {
        if (flags.json) out.jsonLine(line);
        else if (!live) out.data(text(line, out, answer));
        else {
          const verdict = verdictOf(line, live);
          // A line shown under a sequence still held, or the run resting, settles what is
          // held as the user's first, so the held lines print before it, in their place.
          if (RESTS.has(line.event)) live.finish();
          else if (verdict === 'show' && line.path !== undefined)
            for (const p of held.keys()) if (line.path.startsWith(`${p}/`)) live.line(p);
          release(live.settled());
          if (verdict === 'show') out.data(text(line, out, answer));
          else if (verdict === 'hold' && line.path !== undefined)
            held.set(line.path, text(line, out, answer));
        }
      };
      // A sequence's line waits for the line that says whether it has steps: one with none is
      // the user's passthrough (ADR 148), in the text and in --json alike.
      const kinds = liveKinds<{ line: Line; answer: string | undefined }>(
        (l) => l.line,
        (l, kind) => ({ ...l, line: { ...l.line, kind } }),
      );
      let next = 1;
      let last: LedgerEvent | undefined;
      for (;;) {
        const page = await ledger.read(runId, { fromSeq: next, limit: 500 });
        for (const r of page) {
          const e = decodeRecord(runId, r.seq, r.body);
          // A snapshot recorded after the run paused (or ended) is bookkeeping: the run rests.
          if (e.type !== 'SnapshotTaken') last = e;
          next = r.seq + 1;
          // The questions open, with their schemas, for the answer command a pause prints.
          if (e.type === 'HumanInputRequested') open.set(e.data.path, e.data.inputSchema);
          else if (e.type === 'HumanInputReceived' || e.type === 'HumanInputWithdrawn')
            open.delete(e.data.path);
          const line = lineOf(e, names);
          if (!line) continue;
          const answer = e.type === 'RunPaused' ? answerCommand(runId, line.path, open) : undefined;
          for (const l of kinds.push({ line, answer })) print(l);
        }
        // Nobody reads any more (`… | head -1`): stop following, as a closed pipe ends other tools.
        if (!process.stdout.writable) return ExitCode.ok;
        if (page.length === 500) continue;
        // The run rests when its last event ends it or pauses it for a person.
        const t = last?.type;
        const rests = t === 'RunCompleted' || t === 'RunPaused';
        if (rests || t === 'RunFailed' || t === 'RunCancelled') {
          if (live) {
            release(live.finish());
            const n = live.hiddenCount();
            if (n > 0) out.data(engineStepsLine(n));
          }
          return rests ? ExitCode.ok : ExitCode.runtime;
        }
        await sleep(interval);
        await refresh();
      }
    }
  });
}
