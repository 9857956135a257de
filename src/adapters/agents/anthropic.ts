/**
 * `anthropic:<model>` through @anthropic-ai/sdk's Messages API. Structured output is
 * `output_config.format` built by the SDK's jsonSchemaOutputFormat (which applies Anthropic's own
 * schema transform). The SDK's `idempotencyKey` option is a no-op in 1.13, so the key is sent as
 * an Idempotency-Key header.
 */
import Anthropic from '@anthropic-ai/sdk';
import { jsonSchemaOutputFormat } from '@anthropic-ai/sdk/helpers/json-schema';

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

export async function sendAnthropic(
  req: ProviderRequest,
  ctx: ProviderContext,
): Promise<ProviderReply> {
  // Every option the SDK would otherwise read from process.env is given explicitly.
  const client = new Anthropic({
    apiKey: ctx.endpoint.apiKey,
    authToken: null,
    baseURL: ctx.endpoint.baseUrl,
    webhookKey: null,
    maxRetries: 0,
    timeout: oneTimerMs(ctx.scope.deadlineMs),
    fetch: ctx.scope.fetch,
    logLevel: 'off',
  });
  const system = systemWithSchema(req);
  const messages: Anthropic.MessageParam[] = [
    { role: 'user', content: req.user },
    ...(req.repair
      ? [
          { role: 'assistant' as const, content: req.repair.previous },
          { role: 'user' as const, content: repairMessage(req.repair.errors) },
        ]
      : []),
  ];
  let outputConfig:
    { format: { type: 'json_schema'; schema: Record<string, unknown> } } | undefined;
  if (req.schema && req.native) {
    const { type, schema } = jsonSchemaOutputFormat(req.schema as never);
    outputConfig = { format: { type, schema } };
  }
  const body = {
    ...req.settings,
    model: req.model,
    max_tokens: req.maxTokens,
    messages,
    ...(system ? { system } : {}),
    ...(outputConfig ? { output_config: outputConfig } : {}),
  } as Anthropic.MessageCreateParamsNonStreaming;
  let res: Anthropic.Message;
  try {
    res = await client.messages.create(body, {
      signal: ctx.scope.signal,
      maxRetries: 0,
      timeout: oneTimerMs(ctx.scope.deadlineMs),
      headers: { 'Idempotency-Key': ctx.key },
    });
  } catch (e) {
    // The SDK's connection errors (by its own classes) are connection errors, retried.
    if (e instanceof Anthropic.APIConnectionError && !ctx.scope.stopped) throw connectionFailed(e);
    throw e;
  }
  const u = res.usage as Partial<Anthropic.Usage> | undefined;
  // Cached prompt tokens are still prompt tokens for budgets (priced at the full rate: an upper bound).
  const cached = (u?.cache_creation_input_tokens ?? 0) + (u?.cache_read_input_tokens ?? 0);
  const used = usageFrom(
    typeof u?.input_tokens === 'number' ? u.input_tokens + cached : undefined,
    u?.output_tokens,
  );
  // A 200 without a content list is not a reply: it fails at once (it is no connection error).
  if (!Array.isArray(res.content))
    throw replyInvalid('message (no content list)', res, used, ctx.price);
  const text = res.content
    .map((b) => (b?.type === 'text' && typeof b.text === 'string' ? b.text : ''))
    .join('');
  return {
    text,
    ...used,
    model: res.model || req.model,
    ...(res.stop_reason ? { finishReason: res.stop_reason } : {}),
    ...(res.stop_reason === 'refusal' ? { refusal: text || 'the model refused' } : {}),
    raw: plain(res),
  };
}
