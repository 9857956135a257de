/**
 * Given/when/then over a run's events: run a pipeline on an in-memory ledger with a fake clock,
 * then assert on the recorded event stream.
 */
import { createMemoryLedger } from '../../src/adapters/ledger/memory.js';
import type { LedgerEvent } from '../../src/events/envelope.js';
import type { AgentPort, LedgerStore } from '../../src/ports.js';
import { createEngine, type Engine } from '../../src/runtime/engine.js';

export function harness(options: { agents?: AgentPort; ledger?: LedgerStore } = {}) {
  const ledger = options.ledger ?? createMemoryLedger();
  let n = 0;
  const engine: Engine = createEngine({
    ledger,
    ...(options.agents ? { agents: options.agents } : {}),
    newRunId: () => `run-${++n}`,
    worker: 'test',
  });
  return { ledger, engine };
}

/** `Type` or `Type path` for each event, to compare streams compactly. */
export function trace(events: readonly LedgerEvent[]): string[] {
  return events.map((e) => {
    const d = e.data as { path?: string; branch?: string; iteration?: number; attempt?: number };
    const extra = [d.path, d.branch, d.iteration !== undefined ? `#${d.iteration}` : undefined]
      .filter((x) => x !== undefined)
      .join(' ');
    return extra ? `${e.type} ${extra}` : e.type;
  });
}

/** A scripted model port: replies per agent id, counting calls by idempotency key. */
export function scriptedAgents(
  script: Record<string, (input: unknown, attempt: number) => unknown>,
) {
  const calls: { key: string; agent: string; input: unknown }[] = [];
  const port: AgentPort = {
    async call(req) {
      calls.push({ key: req.key, agent: req.agent, input: req.input });
      const reply = script[req.agent];
      if (!reply)
        throw Object.assign(new Error(`no script for ${req.agent}`), { retryable: false });
      const output = await reply(req.input, req.attempt);
      return { output, usage: { input: 10, output: 5 }, costMicros: 1500, model: req.agent };
    },
  };
  return { port, calls };
}
