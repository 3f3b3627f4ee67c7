/**
 * The webhook POST over Node's own http/https, behind the fetch-shaped FetchFunction that
 * discord-delivery takes.
 *
 * Why not fetch here: a per-result alert process posts one card and exits. It already loads
 * node:https to read storage/passwords (fetch cannot skip the certificate check of splunkd's
 * self-signed management port), and the first fetch call loads undici, http2 and a
 * WebAssembly HTTP parser: 45–80 ms on every alert, more than the rest of the run. The
 * reputation providers keep fetch (issue 3 asks for it, and their answers are cached).
 *
 * Unlike the splunkd transport this one verifies TLS certificates (Node's default).
 */
import type { FetchFunction, FetchResponse } from './discord-delivery';

/** Discord's answers are small JSON documents; anything past this is read and dropped. */
const MAX_BODY_BYTES = 256 * 1024;

function headerGetter(headers: Readonly<Record<string, string | string[] | undefined>>): FetchResponse['headers'] {
  return {
    get(name: string): string | null {
      const v = headers[name.toLowerCase()];
      if (v === undefined) return null;
      return Array.isArray(v) ? v.join(', ') : v;
    },
  };
}

export const nodeWebhookPost: FetchFunction = (url, init) =>
  new Promise<FetchResponse>((resolve, reject) => {
    const target = new URL(url);
    // Loaded on use: most alert runs that post have already loaded it for splunkd.
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const client = (target.protocol === 'http:' ? require('node:http') : require('node:https')) as typeof import('node:https');
    const body = Buffer.from(init.body, 'utf8');
    const headers = { ...init.headers, 'content-length': String(body.length) };
    let req: ReturnType<typeof client.request>;
    try {
      req = client.request(target, { method: init.method, headers, signal: init.signal }, (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        let complete = false;
        res.on('data', (chunk: Buffer) => {
          size += chunk.length;
          if (size <= MAX_BODY_BYTES) chunks.push(chunk);
        });
        res.on('end', () => {
          complete = true;
          const text = Buffer.concat(chunks).toString('utf8');
          resolve({ status: res.statusCode ?? 0, headers: headerGetter(res.headers), text: () => Promise.resolve(text) });
        });
        res.on('error', reject);
        // A timeout abort or a peer hang-up in the middle of the body: no answer, like fetch's.
        res.on('close', () => {
          if (!complete) reject(Object.assign(new Error('connection closed before the answer was complete'), { code: 'ECONNRESET' }));
        });
      });
    } catch (e) {
      reject(e);
      return;
    }
    req.on('error', reject);
    req.end(body);
  });
