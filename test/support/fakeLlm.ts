/**
 * A fake LLM server on 127.0.0.1:0 (node:http) speaking OpenAI Chat Completions
 * (`/v1/chat/completions`), the OpenAI Responses API (`/v1/responses`) and Anthropic Messages
 * (`/v1/messages`), non-streaming. Tests script its answers in order; each request is kept
 * (route, headers, parsed body) so tests can count calls and inspect what the real SDKs sent.
 */
import { createServer, type IncomingHttpHeaders, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export type Route = 'chat' | 'responses' | 'messages';

export interface SeenRequest {
  readonly route: Route;
  readonly headers: IncomingHttpHeaders;
  readonly body: Record<string, unknown>;
}

/** One scripted answer. */
export type Step =
  /** A model reply in the route's own format. */
  | {
      readonly text: string;
      readonly usage?: { input: number; output: number };
      readonly model?: string;
      readonly finish?: string;
      readonly refusal?: string;
      /** Wait this long before answering (a slow model; a client may go away meanwhile). */
      readonly delayMs?: number;
    }
  /** An HTTP error (or any status) with a JSON body in the provider's error format. */
  | {
      readonly status: number;
      readonly message?: string;
      readonly headers?: Record<string, string>;
    }
  /** Headers at once, then one byte every `everyMs`, never finishing. */
  | { readonly drip: { readonly everyMs: number } }
  /** A 200 whose body is `bytes` long. */
  | { readonly huge: { readonly bytes: number } }
  /** The connection is reset before any answer (a server that went away). */
  | { readonly reset: true }
  /** Headers and part of a body, then the connection is reset. */
  | { readonly cut: string }
  /** A 200 with this body as it is (a malformed or unexpected reply). */
  | { readonly rawBody: string };

export interface FakeLlm {
  /** Base URL for OpenAI clients (ends in /v1). */
  readonly openaiUrl: string;
  /** Base URL for Anthropic clients. */
  readonly anthropicUrl: string;
  readonly requests: SeenRequest[];
  /** Requests whose client went away before the answer was complete. */
  readonly aborted: () => number;
  script(...steps: Step[]): void;
  close(): Promise<void>;
}

function routeOf(url: string | undefined): Route | null {
  if (url === '/v1/chat/completions') return 'chat';
  if (url === '/v1/responses') return 'responses';
  if (url === '/v1/messages') return 'messages';
  return null;
}

export function replyBody(route: Route, s: Extract<Step, { text: string }>, requested: string) {
  const model = s.model ?? requested;
  const usage = s.usage ?? { input: 11, output: 7 };
  if (route === 'chat')
    return {
      id: 'chatcmpl-fake',
      object: 'chat.completion',
      created: 0,
      model,
      choices: [
        {
          index: 0,
          message: {
            role: 'assistant',
            content: s.refusal ? null : s.text,
            refusal: s.refusal ?? null,
          },
          finish_reason: s.finish ?? 'stop',
        },
      ],
      usage: {
        prompt_tokens: usage.input,
        completion_tokens: usage.output,
        total_tokens: usage.input + usage.output,
      },
    };
  if (route === 'responses')
    return {
      id: 'resp_fake',
      object: 'response',
      created_at: 0,
      status: s.finish ?? 'completed',
      model,
      output: [
        {
          type: 'message',
          id: 'msg_fake',
          status: 'completed',
          role: 'assistant',
          content: s.refusal
            ? [{ type: 'refusal', refusal: s.refusal }]
            : [{ type: 'output_text', text: s.text, annotations: [] }],
        },
      ],
      usage: {
        input_tokens: usage.input,
        output_tokens: usage.output,
        total_tokens: usage.input + usage.output,
      },
    };
  return {
    id: 'msg_fake',
    type: 'message',
    role: 'assistant',
    model,
    content: [{ type: 'text', text: s.text }],
    stop_reason: s.refusal ? 'refusal' : (s.finish ?? 'end_turn'),
    stop_sequence: null,
    usage: { input_tokens: usage.input, output_tokens: usage.output },
  };
}

function errorBody(route: Route, status: number, message: string) {
  return route === 'messages'
    ? { type: 'error', error: { type: status === 429 ? 'rate_limit_error' : 'api_error', message } }
    : { error: { message, type: 'fake_error', code: null, param: null } };
}

export async function startFakeLlm(): Promise<FakeLlm> {
  const queue: Step[] = [];
  const requests: SeenRequest[] = [];
  let aborted = 0;
  const open = new Set<ServerResponse>();

  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const route = routeOf(req.url);
      if (!route || req.method !== 'POST') {
        res.writeHead(404).end();
        return;
      }
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}') as Record<
        string,
        unknown
      >;
      requests.push({ route, headers: req.headers, body });
      const step: Step = queue.shift() ?? { text: 'ok' };
      open.add(res);
      res.on('close', () => {
        if (!res.writableFinished) aborted += 1;
        open.delete(res);
      });
      const json = (status: number, payload: unknown, headers: Record<string, string> = {}) => {
        res.writeHead(status, { 'content-type': 'application/json', ...headers });
        res.end(JSON.stringify(payload));
      };
      if ('text' in step) {
        const answer = () => json(200, replyBody(route, step, String(body.model)));
        if (step.delayMs) {
          const t = setTimeout(answer, step.delayMs);
          res.on('close', () => clearTimeout(t));
        } else answer();
      } else if ('status' in step)
        json(
          step.status,
          errorBody(route, step.status, step.message ?? `fake ${step.status}`),
          step.headers,
        );
      else if ('drip' in step) {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.write('{');
        const t = setInterval(() => res.write(' '), step.drip.everyMs);
        res.on('close', () => clearInterval(t));
      } else if ('reset' in step) req.socket.destroy();
      else if ('cut' in step) {
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': '1000' });
        res.write(step.cut, () => setTimeout(() => req.socket.destroy(), 20));
      } else if ('rawBody' in step) {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(step.rawBody);
      } else {
        res.writeHead(200, { 'content-type': 'application/json' });
        const pad = ' '.repeat(Math.max(0, step.huge.bytes - 20));
        res.end(`{"pad":"${pad}"}`);
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const base = `http://127.0.0.1:${port}`;
  return {
    openaiUrl: `${base}/v1`,
    anthropicUrl: base,
    requests,
    aborted: () => aborted,
    script: (...steps) => void queue.push(...steps),
    close: () =>
      new Promise<void>((resolve) => {
        for (const r of open) r.destroy();
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
