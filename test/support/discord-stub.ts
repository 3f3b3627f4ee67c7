/**
 * A loopback Discord webhook (127.0.0.1, ephemeral port) that answers like Discord does
 * (developers/resources/webhook.mdx, topics/rate-limits.mdx, opcodes-and-status-codes.mdx):
 *
 *   POST /api/[v10/]webhooks/<id>/<token>?wait=true → 200 with a message object
 *   (without wait=true → 204); an unknown id or token → 404 {"message":"Unknown Webhook","code":10015};
 *   a body that is not JSON → 400 code 50109; a message over Discord's limits
 *   (discordMessageViolations) → 400 {"code":50035,"message":"Invalid Form Body","errors":…}.
 *
 * Tests script the next answers in order (`script(...)`); every request is recorded.
 */
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { discordMessageViolations, WebhookPayload } from '../../src/respond/discord-embed';

export type StubReply =
  | { readonly type: 'message' }
  | { readonly type: 'no_content' }
  | { readonly type: 'server_error'; readonly status?: number }
  | { readonly type: 'rate_limited'; readonly retryAfter: number; readonly global?: boolean }
  | { readonly type: 'unauthorized' }
  | { readonly type: 'forbidden' }
  | { readonly type: 'unknown_webhook' }
  | { readonly type: 'invalid_form' }
  | { readonly type: 'slow'; readonly delayMs: number; readonly then?: StubReply }
  | { readonly type: 'reset' };

export interface StubRequest {
  readonly method: string;
  readonly path: string;
  readonly query: URLSearchParams;
  readonly headers: http.IncomingHttpHeaders;
  readonly bodyText: string;
  /** Parsed JSON body, undefined when it was not JSON. */
  readonly body: any;
  readonly receivedAtMs: number;
  /** HTTP status answered, or 'reset' when the connection was cut. */
  answered: number | 'reset' | null;
}

export interface DiscordStub {
  /** http://127.0.0.1:<port> */
  readonly origin: string;
  /** host:port, for SOAR_WEBHOOK_ALLOWED_HOSTS. */
  readonly hostPort: string;
  readonly webhookId: string;
  readonly token: string;
  /** The stub's webhook URL (no query). */
  readonly webhookUrl: string;
  readonly requests: StubRequest[];
  /** Queue answers for the next requests, in order; when the queue is empty the stub answers normally. */
  script(...replies: StubReply[]): void;
  /** Bodies Discord would have posted to the channel (2xx answers). */
  delivered(): any[];
  close(): Promise<void>;
}

export const STUB_WEBHOOK_ID = '1180000000000000001';
export const STUB_TOKEN = 'StubToken_abcdefghijklmnopqrstuvwxyz-0123456789';
const CHANNEL_ID = '1180000000000000777';

function rateLimitHeaders(retryAfter: number, global: boolean, nowMs: number): Record<string, string> {
  const headers: Record<string, string> = {
    'retry-after': String(Math.ceil(retryAfter)),
    'x-ratelimit-limit': '5',
    'x-ratelimit-remaining': '0',
    'x-ratelimit-reset': ((nowMs / 1000) + retryAfter).toFixed(3),
    'x-ratelimit-reset-after': retryAfter.toFixed(3),
    'x-ratelimit-bucket': 'stubbucket0123456789',
    'x-ratelimit-scope': global ? 'global' : 'user',
  };
  if (global) headers['x-ratelimit-global'] = 'true';
  return headers;
}

/** Discord's 50035 shape: errors nested by field path, each leaf holding `_errors`. */
function invalidFormBody(problems: readonly string[]): unknown {
  return {
    code: 50035,
    message: 'Invalid Form Body',
    errors: {
      embeds: {
        '0': { _errors: problems.map((message) => ({ code: 'BASE_TYPE_MAX_LENGTH', message })) },
      },
    },
  };
}

export async function startDiscordStub(): Promise<DiscordStub> {
  const requests: StubRequest[] = [];
  const queue: StubReply[] = [];
  let nextMessageId = 1190000000000000000n;
  const sockets = new Set<import('node:net').Socket>();

  function send(res: http.ServerResponse, record: StubRequest, status: number, body?: unknown, headers: Record<string, string> = {}): void {
    record.answered = status;
    if (body === undefined) {
      res.writeHead(status, headers);
      res.end();
      return;
    }
    res.writeHead(status, { 'content-type': 'application/json', ...headers });
    res.end(JSON.stringify(body));
  }

  function answer(reply: StubReply, req: http.IncomingMessage, res: http.ServerResponse, record: StubRequest): void {
    switch (reply.type) {
      case 'reset':
        record.answered = 'reset';
        req.socket.destroy();
        return;
      case 'slow':
        setTimeout(() => {
          if (!res.destroyed && !req.socket.destroyed) answer(reply.then ?? { type: 'message' }, req, res, record);
        }, reply.delayMs);
        return;
      case 'server_error':
        send(res, record, reply.status ?? 500, { message: '500: Internal Server Error', code: 0 });
        return;
      case 'rate_limited':
        send(
          res,
          record,
          429,
          { message: 'You are being rate limited.', retry_after: reply.retryAfter, global: reply.global ?? false },
          rateLimitHeaders(reply.retryAfter, reply.global ?? false, Date.now()),
        );
        return;
      case 'unauthorized':
        send(res, record, 401, { message: '401: Unauthorized', code: 0 });
        return;
      case 'forbidden':
        send(res, record, 403, { message: 'Missing Access', code: 50001 });
        return;
      case 'unknown_webhook':
        send(res, record, 404, { message: 'Unknown Webhook', code: 10015 });
        return;
      case 'invalid_form':
        send(res, record, 400, invalidFormBody(['Must be 1024 or fewer in length.']));
        return;
      case 'no_content':
      case 'message': {
        if (record.body === undefined) {
          send(res, record, 400, { message: 'The request body contains invalid JSON.', code: 50109 });
          return;
        }
        const problems = discordMessageViolations(record.body as WebhookPayload);
        if (problems.length > 0) {
          send(res, record, 400, invalidFormBody(problems));
          return;
        }
        if (reply.type === 'no_content' || record.query.get('wait') !== 'true') {
          send(res, record, 204);
          return;
        }
        const id = String(nextMessageId++);
        send(res, record, 200, {
          id,
          type: 0,
          content: record.body.content ?? '',
          channel_id: CHANNEL_ID,
          author: { id: STUB_WEBHOOK_ID, username: record.body.username ?? 'SOAR-EDR', bot: true },
          embeds: record.body.embeds ?? [],
          mentions: [],
          webhook_id: STUB_WEBHOOK_ID,
          timestamp: new Date().toISOString(),
        });
        return;
      }
    }
  }

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const url = new URL(req.url ?? '/', 'http://stub');
      const bodyText = Buffer.concat(chunks).toString('utf8');
      let body: any;
      try {
        body = JSON.parse(bodyText);
      } catch {
        body = undefined;
      }
      const record: StubRequest = {
        method: req.method ?? '',
        path: url.pathname,
        query: url.searchParams,
        headers: req.headers,
        bodyText,
        body,
        receivedAtMs: Date.now(),
        answered: null,
      };
      requests.push(record);
      const m = /^\/api(?:\/v\d+)?\/webhooks\/([^/]+)\/([^/]+)\/?$/.exec(url.pathname);
      if (req.method !== 'POST' || m === null) {
        send(res, record, 404, { message: '404: Not Found', code: 0 });
        return;
      }
      const reply = queue.shift() ?? { type: 'message' };
      if (reply.type !== 'reset' && reply.type !== 'slow' && (m[1] !== STUB_WEBHOOK_ID || m[2] !== STUB_TOKEN)) {
        send(res, record, 404, { message: 'Unknown Webhook', code: 10015 });
        return;
      }
      answer(reply, req, res, record);
    });
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const origin = `http://127.0.0.1:${port}`;
  return {
    origin,
    hostPort: `127.0.0.1:${port}`,
    webhookId: STUB_WEBHOOK_ID,
    token: STUB_TOKEN,
    webhookUrl: `${origin}/api/webhooks/${STUB_WEBHOOK_ID}/${STUB_TOKEN}`,
    requests,
    script: (...replies) => {
      queue.push(...replies);
    },
    delivered: () => requests.filter((r) => typeof r.answered === 'number' && r.answered >= 200 && r.answered < 300).map((r) => r.body),
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
