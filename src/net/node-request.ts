/**
 * One HTTP request over Node's own http/https, the answer read whole. Shared by the two
 * callers that must not load fetch's undici on an alert's path: the storage/passwords
 * transport (splunkd's certificate checked by the rules of src/net/tls-trust.ts) and the
 * Discord webhook POST (certificates verified, Node's default).
 */
import type { Agent, IncomingHttpHeaders } from 'node:http';
import type { LookupFunction, Socket } from 'node:net';
import type { TlsConnectOptions } from './tls-trust';

export interface NodeRequest {
  readonly method: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: string;
  /** Aborts connect, headers and body (the rejection is Node's AbortError). */
  readonly signal?: AbortSignal;
  /** Socket idle time before the request is given up (rejects with code ETIMEDOUT). */
  readonly timeoutMs?: number;
  /**
   * How the server's certificate is checked; Node's default (system CAs, host name) when
   * absent. checkServerIdentity also gets the address the socket is connected to.
   */
  readonly tls?: TlsConnectOptions;
  /** Name resolution (tests map a made-up name to a loopback stub). */
  readonly lookup?: LookupFunction;
  /** Connection pool; splunkd's transport keeps its own, so a socket checked under other rules is never reused. */
  readonly agent?: Agent;
  /** Bytes of the answer kept (its start); the rest is read and dropped. Default 4 MiB. */
  readonly maxBodyBytes?: number;
}

export interface NodeResponse {
  readonly status: number;
  /** Lower-case names, as Node gives them. */
  readonly headers: IncomingHttpHeaders;
  readonly text: string;
}

const DEFAULT_MAX_BODY_BYTES = 4 * 1024 * 1024;

function codedError(message: string, code: string): Error {
  return Object.assign(new Error(message), { code });
}

export function nodeRequest(url: string, request: NodeRequest): Promise<NodeResponse> {
  return new Promise<NodeResponse>((resolve, reject) => {
    const target = new URL(url);
    // Loaded on use: a run that never asks anything never loads them.
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const client = (target.protocol === 'http:' ? require('node:http') : require('node:https')) as typeof import('node:https');
    const body = Buffer.from(request.body, 'utf8');
    const maxBodyBytes = request.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
    let req: ReturnType<typeof client.request>;
    // The socket, to tell the certificate check which address it is connected to (set long
    // before the handshake ends: the 'socket' event comes on the next tick after creation).
    let socket: Socket | undefined;
    const tls = request.tls;
    try {
      req = client.request(
        target,
        {
          method: request.method,
          headers: { ...request.headers, 'content-length': String(body.length) },
          signal: request.signal,
          timeout: request.timeoutMs,
          rejectUnauthorized: tls?.rejectUnauthorized ?? true,
          ...(tls?.ca ? { ca: tls.ca } : {}),
          ...(tls?.checkServerIdentity ? { checkServerIdentity: (host: string, cert: import('node:tls').PeerCertificate) => tls.checkServerIdentity!(host, cert, socket?.remoteAddress) } : {}),
          ...(request.lookup ? { lookup: request.lookup } : {}),
          ...(request.agent ? { agent: request.agent } : {}),
        },
        (res) => {
          const chunks: Buffer[] = [];
          let size = 0;
          let complete = false;
          res.on('data', (chunk: Buffer) => {
            if (size < maxBodyBytes) chunks.push(chunk.subarray(0, maxBodyBytes - size));
            size += chunk.length;
          });
          res.on('end', () => {
            complete = true;
            resolve({ status: res.statusCode ?? 0, headers: res.headers, text: Buffer.concat(chunks).toString('utf8') });
          });
          res.on('error', reject);
          // An abort or a peer hang-up in the middle of the body: no answer.
          res.on('close', () => {
            if (!complete) reject(codedError('connection closed before the answer was complete', 'ECONNRESET'));
          });
        },
      );
    } catch (e) {
      reject(e);
      return;
    }
    req.on('socket', (s) => {
      socket = s;
    });
    req.on('timeout', () => req.destroy(codedError(`no answer within ${request.timeoutMs} ms`, 'ETIMEDOUT')));
    req.on('error', reject);
    req.end(body);
  });
}
