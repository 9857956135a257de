/**
 * `openai:<model>` through the openai SDK: Chat Completions by default (what OpenAI-compatible
 * servers speak), the Responses API when a step asks for `api: 'responses'` (ADR 0010).
 * Structured output is json_schema with strict: true over a strictified schema.
 */
import OpenAI from 'openai';

import { strictify } from './schema.js';
import {
  plain,
  repairMessage,
  replyInvalid,
  usageFrom,
  systemWithSchema,
  type ProviderContext,
  type ProviderReply,
  type ProviderRequest,
} from './provider.js';
import { connectionFailed } from './http.js';
import { oneTimerMs } from '../../runtime/longTimer.js';

function client(ctx: ProviderContext): OpenAI {
  // Every option the SDK would otherwise read from process.env is given explicitly.
  return new OpenAI({
    apiKey: ctx.endpoint.apiKey,
    baseURL: ctx.endpoint.baseUrl,
    organization: null,
    project: null,
    webhookSecret: null,
    maxRetries: 0,
    timeout: oneTimerMs(ctx.scope.deadlineMs),
    fetch: ctx.scope.fetch,
    logLevel: 'off',
  });
}

function requestOptions(ctx: ProviderContext) {
  return {
    signal: ctx.scope.signal,
    maxRetries: 0,
    timeout: oneTimerMs(ctx.scope.deadlineMs),
    headers: { 'Idempotency-Key': ctx.key },
  };
}

const FORMAT_NAME = 'output';

/** The SDK's connection errors (by its own classes) are connection errors, retried (ADR 0011). */
async function sdkCall<T>(ctx: ProviderContext, run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (e) {
    if (e instanceof OpenAI.APIConnectionError && !ctx.scope.stopped) throw connectionFailed(e);
    throw e;
  }
}

async function chat(req: ProviderRequest, ctx: ProviderContext): Promise<ProviderReply> {
  const system = systemWithSchema(req);
  const messages: OpenAI.ChatCompletionMessageParam[] = [
    ...(system ? [{ role: 'system' as const, content: system }] : []),
    { role: 'user', content: req.user },
    ...(req.repair
      ? [
          { role: 'assistant' as const, content: req.repair.previous },
          { role: 'user' as const, content: repairMessage(req.repair.errors) },
        ]
      : []),
  ];
  // OpenAI's newer models refuse max_tokens; compatible servers often know only max_tokens.
  const limit = ctx.endpoint.official
    ? { max_completion_tokens: req.maxTokens }
    : { max_tokens: req.maxTokens };
  const body = {
    ...req.settings,
    model: req.model,
    messages,
    ...limit,
    ...(req.schema && req.native
      ? {
          response_format: {
            type: 'json_schema' as const,
            json_schema: {
              name: FORMAT_NAME,
              strict: true,
              schema: strictify(req.schema) as Record<string, unknown>,
            },
          },
        }
      : {}),
  } as OpenAI.ChatCompletionCreateParamsNonStreaming;
  const res = await sdkCall(ctx, () =>
    client(ctx).chat.completions.create(body, requestOptions(ctx)),
  );
  const used = usageFrom(res.usage?.prompt_tokens, res.usage?.completion_tokens);
  const choice = Array.isArray(res.choices) ? res.choices[0] : undefined;
  const message = choice?.message as Partial<OpenAI.ChatCompletionMessage> | undefined;
  const refusal = typeof message?.refusal === 'string' ? message.refusal : undefined;
  // No choice, or a choice with neither content nor a refusal, is not a reply: never "" output.
  if (typeof message?.content !== 'string' && !refusal)
    throw replyInvalid('chat completion (no choices[0].message.content)', res, used, ctx.price);
  return {
    text: message?.content ?? '',
    ...used,
    model: (typeof res.model === 'string' && res.model) || req.model,
    ...(typeof choice?.finish_reason === 'string' ? { finishReason: choice.finish_reason } : {}),
    ...(refusal ? { refusal } : {}),
    raw: plain(res),
  };
}

async function responses(req: ProviderRequest, ctx: ProviderContext): Promise<ProviderReply> {
  const system = systemWithSchema(req);
  const input: OpenAI.Responses.ResponseInputItem[] = [
    { role: 'user', content: req.user },
    ...(req.repair
      ? [
          { role: 'assistant' as const, content: req.repair.previous },
          { role: 'user' as const, content: repairMessage(req.repair.errors) },
        ]
      : []),
  ];
  const body = {
    ...req.settings,
    model: req.model,
    input,
    ...(system ? { instructions: system } : {}),
    max_output_tokens: req.maxTokens,
    ...(req.schema && req.native
      ? {
          text: {
            format: {
              type: 'json_schema' as const,
              name: FORMAT_NAME,
              strict: true,
              schema: strictify(req.schema) as Record<string, unknown>,
            },
          },
        }
      : {}),
  } as OpenAI.Responses.ResponseCreateParamsNonStreaming;
  const res = await sdkCall(ctx, () => client(ctx).responses.create(body, requestOptions(ctx)));
  const used = usageFrom(res.usage?.input_tokens, res.usage?.output_tokens);
  if (!Array.isArray(res.output))
    throw replyInvalid('response (no output list)', res, used, ctx.price);
  let text = '';
  let refusal: string | undefined;
  for (const item of res.output) {
    if (item?.type !== 'message') continue;
    if (!Array.isArray(item.content))
      throw replyInvalid('response (a message without content)', res, used, ctx.price);
    for (const part of item.content) {
      if (part?.type === 'output_text' && typeof part.text === 'string') text += part.text;
      else if (part?.type === 'refusal' && typeof part.refusal === 'string') refusal = part.refusal;
    }
  }
  const finish = res.incomplete_details?.reason ?? res.status;
  return {
    text,
    ...used,
    model: (typeof res.model === 'string' && res.model) || req.model,
    ...(finish ? { finishReason: finish } : {}),
    ...(refusal ? { refusal } : {}),
    raw: plain(res),
  };
}

export function sendOpenAI(req: ProviderRequest, ctx: ProviderContext): Promise<ProviderReply> {
  return ctx.config.api === 'responses' ? responses(req, ctx) : chat(req, ctx);
}
