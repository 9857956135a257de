/** Calling skills the way the driver does: one AgentRequest per attempt. */
import type { AgentPort, AgentReply } from '../../src/ports.js';

let n = 0;

export function callSkill(
  port: AgentPort,
  id: string,
  input: unknown,
  params?: Record<string, unknown>,
): Promise<AgentReply> {
  n += 1;
  return port.call(
    {
      runId: 'run-t',
      path: `${n}`,
      attempt: 1,
      key: `run-t:${n}:1`,
      agent: `skill:${id}`,
      input,
      ...(params ? { config: { params } } : {}),
    },
    new AbortController().signal,
  );
}

export const out = async (p: Promise<AgentReply>) => (await p).output;
