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
import { nodeRequest } from '../net/node-request';
import type { FetchFunction, FetchResponse } from './discord-delivery';

/** Discord's answers are small JSON documents; anything past this is read and dropped. */
const MAX_BODY_BYTES = 256 * 1024;

export const nodeWebhookPost: FetchFunction = async (url, init) => {
  const res = await nodeRequest(url, { method: init.method, headers: init.headers, body: init.body, signal: init.signal, maxBodyBytes: MAX_BODY_BYTES });
  const headers: FetchResponse['headers'] = {
    get(name: string): string | null {
      const v = res.headers[name.toLowerCase()];
      if (v === undefined) return null;
      return Array.isArray(v) ? v.join(', ') : v;
    },
  };
  return { status: res.status, headers, text: () => Promise.resolve(res.text) };
};
