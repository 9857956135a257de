/**
 * The projections' fold: recorded events in, row changes out. Pure and stateless — what a change
 * needs from earlier events it names (run, path, attempt) and the store looks up by key — so the
 * same function serves the inline hook (one append's batch) and rebuild (every event in commit
 * order), and both leave the same rows.
 */
import { toHex } from '../events/chain.js';
import { currentVersion, type NewEvent } from '../events/catalogue.js';
import { decodeRecord, type LedgerEvent, type SealedRecord } from '../events/envelope.js';
import type { Change, ProjectionName } from './changes.js';
import type { RebuildDamage } from './damage.js';
import { fullJson, preview, safeText, utcDay } from './preview.js';

/** Code runs through the agent port too; only other agent ids are models. */
export function isModel(agent: string): boolean {
  return !agent.startsWith('fn:') && !agent.startsWith('skill:');
}

const model = (agent: string) => (isModel(agent) ? agent : null);

/** The changes one event makes, in projection order (runs, steps, hitl, costs). */
export function changesOf(e: LedgerEvent, out: Change[] = []): Change[] {
  const runId = e.runId;
  const at = e.at;
  switch (e.type) {
    case 'RunStarted':
      out.push({
        p: 'runs',
        op: 'start',
        runId,
        pipeline: safeText(e.data.pipeline.name),
        fingerprint: safeText(e.data.pipeline.fingerprint),
        at,
        inputPreview: preview(e.data.input),
      });
      break;
    case 'RunResumed':
      out.push({ p: 'runs', op: 'running', runId });
      break;
    case 'RunPaused':
      out.push({ p: 'runs', op: 'paused', runId, path: e.data.path });
      break;
    case 'RunCompleted':
      out.push(end(runId, 'completed', at, preview(e.data.output), null, null));
      // Nothing is left running in a run recorded with StepAbandoned; older ones can (ADR 78).
      out.push({
        p: 'steps',
        op: 'runEnded',
        runId,
        status: 'cancelled',
        at,
        errorCode: STEP_ABANDONED,
        errorMessage: 'left unfinished: still running when the run completed',
      });
      out.push({ p: 'hitl', op: 'runEnded', runId });
      break;
    case 'RunFailed': {
      const code = safeText(e.data.error.code);
      const message = safeText(e.data.error.message);
      out.push(end(runId, 'failed', at, null, code, message));
      out.push({
        p: 'steps',
        op: 'runEnded',
        runId,
        status: 'failed',
        at,
        errorCode: code,
        errorMessage: message,
      });
      out.push({ p: 'hitl', op: 'runEnded', runId });
      break;
    }
    case 'RunCancelled':
      out.push(end(runId, 'cancelled', at, null, null, null));
      out.push({
        p: 'steps',
        op: 'runEnded',
        runId,
        status: 'cancelled',
        at,
        errorCode: null,
        errorMessage: null,
      });
      out.push({ p: 'hitl', op: 'runEnded', runId });
      break;
    case 'StepScheduled':
      out.push({
        p: 'steps',
        op: 'scheduled',
        runId,
        path: e.data.path,
        name: safeText(e.data.name),
        kind: e.data.kind,
        seq: e.seq,
        at,
      });
      break;
    case 'AgentCallRequested':
      out.push({
        p: 'steps',
        op: 'called',
        runId,
        path: e.data.path,
        attempt: e.data.attempt,
        seq: e.seq,
        at,
        day: utcDay(at),
        model: model(e.data.agent),
        inputPreview: preview(e.data.input),
      });
      break;
    case 'AgentCallRetried':
      out.push({ p: 'steps', op: 'retried', runId, path: e.data.path, attempt: e.data.attempt });
      break;
    case 'AgentResponded': {
      const d = e.data;
      usage(out, runId, d.costMicros, d.usage.input, d.usage.output);
      out.push({
        p: 'steps',
        op: 'replied',
        runId,
        path: d.path,
        attempt: d.attempt,
        at,
        day: utcDay(at),
        tin: d.usage.input,
        tout: d.usage.output,
        cost: d.costMicros,
        latencyMs: d.latencyMs,
      });
      out.push(cost(runId, d.path, d.attempt, at, d.usage.input, d.usage.output, d.costMicros));
      break;
    }
    case 'AgentFailed': {
      const d = e.data;
      const tin = d.usage?.input ?? 0;
      const tout = d.usage?.output ?? 0;
      const c = d.costMicros ?? 0;
      usage(out, runId, c, tin, tout);
      out.push({
        p: 'steps',
        op: 'callFailed',
        runId,
        path: d.path,
        attempt: d.attempt,
        at,
        day: utcDay(at),
        tin,
        tout,
        cost: c,
        errorCode: safeText(d.error.code),
        errorMessage: safeText(d.error.message),
      });
      out.push(cost(runId, d.path, d.attempt, at, tin, tout, c));
      break;
    }
    case 'BudgetReconciled': {
      // An attempt whose usage is unknown (a timeout, a crash), charged its reservation (ADR
      // 55): it counts toward the run, its step and its model as RunResult counts it.
      const d = e.data;
      usage(out, runId, d.costMicros, 0, 0);
      out.push({
        p: 'steps',
        op: 'charged',
        runId,
        path: d.path,
        attempt: d.attempt,
        cost: d.costMicros,
        day: utcDay(at),
      });
      out.push(cost(runId, d.path, d.attempt, at, 0, 0, d.costMicros, 0));
      break;
    }
    case 'StepCompleted':
      out.push({
        p: 'steps',
        op: 'completed',
        runId,
        path: e.data.path,
        at,
        outputPreview: preview(e.data.output),
      });
      break;
    case 'StepFailed':
      out.push({
        p: 'steps',
        op: 'failed',
        runId,
        path: e.data.path,
        attempt: e.data.attempt ?? null,
        at,
        errorCode: safeText(e.data.error.code),
        errorMessage: safeText(e.data.error.message),
      });
      break;
    case 'HumanInputRequested':
      out.push({
        p: 'hitl',
        op: 'requested',
        runId,
        path: e.data.path,
        seq: e.seq,
        at,
        message: safeText(e.data.message),
        schema: fullJson(e.data.inputSchema),
      });
      break;
    case 'StepAbandoned':
      out.push({
        p: 'steps',
        op: 'abandoned',
        runId,
        path: e.data.path,
        at,
        errorCode: STEP_ABANDONED,
        errorMessage: safeText(abandonedMessage(e.data.cause)),
      });
      break;
    case 'HumanInputWithdrawn':
      out.push({ p: 'hitl', op: 'withdrawn', runId, path: e.data.path });
      break;
    case 'HumanInputReceived':
      out.push({
        p: 'hitl',
        op: 'answered',
        runId,
        path: e.data.path,
        at,
        answer: fullJson(e.data.input),
        by: e.data.by === undefined ? null : safeText(e.data.by),
      });
      break;
    default:
      break;
  }
  return out;
}

/** The code a step left unfinished by its run carries in the views (ADR 78). */
export const STEP_ABANDONED = 'STEP_ABANDONED';

/** Why a step was left: the step enclosing it that ended first. */
export function abandonedMessage(cause: string): string {
  return `left unfinished: ${cause === '.' ? 'the pipeline' : `step ${cause}`} ended while it ran (a sibling branch or item failed it)`;
}

function end(
  runId: string,
  status: 'completed' | 'failed' | 'cancelled',
  at: number,
  outputPreview: string | null,
  errorCode: string | null,
  errorMessage: string | null,
): Change {
  return { p: 'runs', op: 'end', runId, status, at, outputPreview, errorCode, errorMessage };
}

/** Code steps spend nothing: no run update for them (the hot path of function pipelines). */
function usage(out: Change[], runId: string, c: number, tin: number, tout: number): void {
  if (c !== 0 || tin !== 0 || tout !== 0)
    out.push({ p: 'runs', op: 'usage', runId, cost: c, tin, tout });
}

/** `day`: the event's, which a store uses only for a call with no request day (see CostChange). */
function cost(
  runId: string,
  path: string,
  attempt: number,
  at: number,
  tin: number,
  tout: number,
  c: number,
  calls: 0 | 1 = 1,
): Change {
  return {
    p: 'costs',
    op: 'call',
    runId,
    path,
    attempt,
    calls,
    day: utcDay(at),
    tin,
    tout,
    cost: c,
  };
}

/** The changes of stored records (a batch, or a page of the ledger in commit order). */
export function changesOfRecords(
  records: readonly SealedRecord[],
  opts: {
    readonly only?: ReadonlySet<ProjectionName>;
    /**
     * The events the records were sealed from in this process (the inline hook: the append's
     * own `events`, in order): their data is used as it is instead of decoding the bodies. The
     * codec's data model makes the two the same for every change (the encoder refuses what it
     * would not give back, and previews read an integer `bigint` as the number it decodes to),
     * so rebuild, which decodes, writes the same rows; an agent's reply, which no change reads,
     * is never decoded.
     */
    readonly events?: readonly NewEvent[];
    /** Rebuild: records what it cannot fold, and leaves out what must not be (./damage.ts). */
    readonly damage?: RebuildDamage;
  } = {},
): Change[] {
  const out: Change[] = [];
  const events = opts.events;
  for (let i = 0; i < records.length; i++) {
    const r = records[i] as SealedRecord;
    const e = events
      ? ({
          runId: r.runId,
          seq: r.seq,
          type: r.type,
          v: currentVersion[r.type],
          at: r.at,
          data: (events[i] as NewEvent).data,
        } as LedgerEvent)
      : opts.damage
        ? opts.damage.take(r)
        : decodeRecord(r.runId, r.seq, r.body);
    if (e) changesOf(e, out);
    // The head after a run's last record in this slice is the only one that stays.
    if (records[i + 1]?.runId === r.runId) continue;
    out.push({ p: 'runs', op: 'head', runId: r.runId, seq: r.seq, hash: toHex(r.hash), at: r.at });
  }
  const only = opts.only;
  return only ? out.filter((c) => only.has(c.p)) : out;
}
