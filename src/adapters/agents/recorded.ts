/**
 * The recorded agent client: serves each call's reply from a run's ledger events and makes no
 * request at all. A call is found by its step path and attempt; the request must hash to what
 * was recorded (requestHash over agent, input and config), otherwise replay fails loudly.
 */
import { requestHash } from '../../actors/decisions.js';
import { EngineError, ErrorCode } from '../../errors.js';
import type { EventData } from '../../events/catalogue.js';
import type { LedgerEvent } from '../../events/envelope.js';
import type { AgentPort, AgentReply, AgentRequest } from '../../ports.js';

type Requested = EventData<'AgentCallRequested'>;
type Answer =
  | { type: 'AgentResponded'; data: EventData<'AgentResponded'> }
  | { type: 'AgentFailed'; data: EventData<'AgentFailed'> };

const slot = (path: string, attempt: number) => `${path}#${attempt}`;

export function createRecordedAgents(events: readonly LedgerEvent[]): AgentPort {
  const requested = new Map<string, Requested>();
  const answers = new Map<string, Answer>();
  const reserved = new Map<string, { costMicros: number; tokens: number }>();
  const runId = events[0]?.runId ?? '?';
  for (const e of events) {
    if (e.type === 'AgentCallRequested') requested.set(slot(e.data.path, e.data.attempt), e.data);
    else if (e.type === 'AgentResponded' || e.type === 'AgentFailed')
      answers.set(slot(e.data.path, e.data.attempt), { type: e.type, data: e.data } as Answer);
    else if (e.type === 'BudgetReserved')
      reserved.set(slot(e.data.path, e.data.attempt), {
        costMicros: e.data.costMicros,
        tokens: e.data.tokens,
      });
  }

  return {
    estimate: (req) => reserved.get(slot(req.path, req.attempt)) ?? { costMicros: 0, tokens: 0 },

    async call(req: AgentRequest): Promise<AgentReply> {
      const at = `step ${req.path} attempt ${req.attempt}`;
      const rec = requested.get(slot(req.path, req.attempt));
      if (!rec)
        throw new EngineError(
          ErrorCode.AGENT_NOT_RECORDED,
          `run ${runId} recorded no call at ${at}; the pipeline asks for one the recording does not have`,
          { details: { runId, path: req.path, attempt: req.attempt } },
        );
      const hash = requestHash(req.agent, req.input, req.config);
      if (hash !== rec.requestHash)
        throw new EngineError(
          ErrorCode.AGENT_REPLAY_MISMATCH,
          `run ${runId} ${at}: the request differs from the recorded one (agent ${req.agent} vs ${rec.agent}; request hash ${hash.slice(0, 12)}… vs ${rec.requestHash.slice(0, 12)}…): the pipeline, its config or its input changed`,
          {
            details: {
              runId,
              path: req.path,
              attempt: req.attempt,
              recorded: rec.requestHash,
              actual: hash,
            },
          },
        );
      const answer = answers.get(slot(req.path, req.attempt));
      if (!answer)
        throw new EngineError(
          ErrorCode.AGENT_NOT_RECORDED,
          `run ${runId} ${at}: the call was requested but its reply was never recorded (the run stopped while it was in flight)`,
          { details: { runId, path: req.path, attempt: req.attempt } },
        );
      if (answer.type === 'AgentFailed') {
        const { code, message, retryable } = answer.data.error;
        throw Object.assign(new Error(message), {
          code,
          retryable,
          ...(answer.data.usage ? { usage: answer.data.usage } : {}),
          ...(answer.data.costMicros !== undefined ? { costMicros: answer.data.costMicros } : {}),
          ...(answer.data.repair ? { repair: answer.data.repair } : {}),
        });
      }
      const d = answer.data;
      return {
        output: d.output,
        ...(d.text !== undefined ? { text: d.text } : {}),
        usage: d.usage,
        costMicros: d.costMicros,
        model: d.model,
        ...(d.finishReason !== undefined ? { finishReason: d.finishReason } : {}),
        ...(d.repair ? { repair: d.repair } : {}),
        ...(d.raw !== undefined ? { raw: d.raw } : {}),
      };
    },
  };
}
