/**
 * Function steps (`fn:<name>`) run in-process from the plan's functions, through the same agent
 * port as models, so their results are recorded like any other call.
 */
import { asRecorded } from '../actors/frozen.js';
import type { Plan } from '../dsl/ir.js';
import { EngineError, ErrorCode, ExitCode } from '../errors.js';
import type { AgentCallHooks, AgentPort, AgentReply, AgentRequest } from '../ports.js';

/** A function step's agent id: its code runs in this process and cannot be stopped by a signal. */
export function isFunctionAgent(agent: string): boolean {
  return agent.startsWith('fn:');
}

/** Runs `fn:<name>` steps from the plan's functions; everything else goes to the model port. */
export function withFunctionAgents(plan: Plan, models: AgentPort | undefined): AgentPort {
  return {
    estimate: (req) =>
      isFunctionAgent(req.agent) || !models?.estimate
        ? { costMicros: 0, tokens: 0 }
        : models.estimate(req),
    async call(
      req: AgentRequest,
      signal: AbortSignal,
      hooks?: AgentCallHooks,
    ): Promise<AgentReply> {
      if (isFunctionAgent(req.agent)) {
        const fn = plan.functions[req.agent.slice(3)] as ((input: unknown) => unknown) | undefined;
        if (!fn)
          throw new EngineError(ErrorCode.USAGE, `function ${req.agent} is not in the plan`, {
            retryable: false,
          });
        // The run's values are frozen (ADR 40): the function gets a copy it may change, as the
        // ledger recorded it (what a call re-issued after a resume gets too).
        const output = await fn(asRecorded(req.input, 'input'));
        return {
          output: output ?? null,
          usage: { input: 0, output: 0 },
          costMicros: 0,
          model: req.agent,
        };
      }
      if (!models) {
        throw new EngineError(
          ErrorCode.CONFIG_INVALID,
          `no agent port is configured for ${req.agent}`,
          {
            exitCode: ExitCode.config,
            retryable: false,
          },
        );
      }
      return models.call(req, signal, hooks);
    },
  };
}
