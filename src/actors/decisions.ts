/**
 * Between the machine and the ledger: decisions (the machine's actions) become decision events,
 * and recorded facts become machine events. Pure; the runtime records what this returns.
 */
import type { NewEvent } from '../events/catalogue.js';
import { contentHash } from '../events/chain.js';
import { encodeCanonicalScratch } from '../events/codec.js';
import type { LedgerEvent } from '../events/envelope.js';
import { LedgerEncodeError } from '../errors.js';
import { freezeDeep } from './frozen.js';
import type { Decision, RunMachineEvent } from './vocabulary.js';

/** The idempotency key of one attempt of one step: stable across resume, replay and workers. */
export function idempotencyKey(runId: string, path: string, attempt: number): string {
  return `${runId}:${path}:${attempt}`;
}

export function requestHash(agent: string, input: unknown, config: unknown): string {
  return contentHash(encodeCanonicalScratch({ agent, input, config: config ?? null }));
}

/**
 * The request hash of a call, or '' when its input cannot be recorded (a string plan code
 * returned with a lone surrogate: strings are not checked where they are returned). The event is
 * then refused at the append as a whole, and the run ends recorded in its place (ADR 115); thrown
 * here, the error left engine.run before the append and the run running. The '' is never
 * recorded: an event whose input the ledger refuses is not.
 */
function hashOf(d: Extract<Decision, { type: 'callAgent' }>): string {
  try {
    return requestHash(d.agent, d.input, d.config);
  } catch (e) {
    if (!(e instanceof LedgerEncodeError)) throw e;
    try {
      encodeCanonicalScratch({ input: d.input });
    } catch {
      return '';
    }
    throw e;
  }
}

export function decisionEvent(runId: string, d: Decision): NewEvent {
  switch (d.type) {
    case 'scheduleStep':
      return { type: 'StepScheduled', data: { path: d.path, name: d.name, kind: d.kind } };
    case 'callAgent':
      return {
        type: 'AgentCallRequested',
        data: {
          path: d.path,
          attempt: d.attempt,
          key: idempotencyKey(runId, d.path, d.attempt),
          agent: d.agent,
          requestHash: hashOf(d),
          input: d.input,
        },
      };
    case 'scheduleTimer':
      return {
        type: 'TimerScheduled',
        data: { path: d.path, timerId: d.timerId, delayMs: d.delayMs, reason: d.reason },
      };
    case 'completeStep':
      return { type: 'StepCompleted', data: { path: d.path, output: d.output } };
    case 'failStep':
      return {
        type: 'StepFailed',
        data: { path: d.path, error: d.error, ...(d.attempt ? { attempt: d.attempt } : {}) },
      };
    case 'selectBranch':
      return { type: 'BranchSelected', data: { path: d.path, branch: d.branch } };
    case 'startIteration':
      return { type: 'LoopIterationStarted', data: { path: d.path, iteration: d.iteration } };
    case 'requestHuman':
      return {
        type: 'HumanInputRequested',
        data: { path: d.path, message: d.message, inputSchema: d.inputSchema },
      };
    case 'completeRun':
      return { type: 'RunCompleted', data: { output: d.output } };
    case 'failRun':
      return { type: 'RunFailed', data: { error: d.error } };
  }
}

/** Facts that drive the machine: each is followed, in the same append, by what it caused. */
export const DRIVING_FACTS: ReadonlySet<string> = new Set([
  'AgentResponded',
  'AgentFailed',
  'HumanInputReceived',
  'TimerFired',
  'RunCancelled',
]);

/** Bookkeeping the runtime records around decisions; the machine never sees them. */
export const MARKERS: ReadonlySet<string> = new Set([
  'RunStarted',
  'RunClaimed',
  'RunResumed',
  'RunPaused',
  'BudgetReserved',
  'BudgetReconciled',
  'SnapshotTaken',
  'AgentCallRetried',
  'HumanInputWithdrawn',
  'StepAbandoned',
]);

export function machineEventOf(e: LedgerEvent): RunMachineEvent | null {
  switch (e.type) {
    case 'AgentResponded':
      return {
        type: 'AGENT_RESPONDED',
        path: e.data.path,
        attempt: e.data.attempt,
        output: freezeDeep(e.data.output),
      };
    case 'AgentFailed':
      return {
        type: 'AGENT_FAILED',
        path: e.data.path,
        attempt: e.data.attempt,
        error: e.data.error,
      };
    case 'TimerFired':
      return { type: 'TIMER_FIRED', path: e.data.path, timerId: e.data.timerId };
    case 'HumanInputReceived':
      return { type: 'HUMAN_INPUT', path: e.data.path, input: freezeDeep(e.data.input) };
    default:
      return null;
  }
}
