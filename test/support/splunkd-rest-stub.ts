/**
 * Loopback stand-in for splunkd's REST API, enough for storage/passwords: list (GET), create
 * (POST), get/update one entity, and login for the admin CLI. Answers in the JSON shape splunkd
 * uses with output_mode=json (entry[].content.clear_password, realm, username), and 401 with
 * splunkd's message when the session key is wrong. Over HTTPS when given a key and a
 * certificate (PEM), like splunkd's management port; every request that got past the TLS
 * handshake is recorded, so a test can show that nothing was sent. With `kvstore: true` it also
 * serves the KV store's collection data endpoints (kvstore-stub.ts), as splunkd does on the same port.
 */
import { createServer, IncomingMessage, RequestListener, Server, ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { KvStoreStub, startKvStoreStub } from './kvstore-stub';

export interface StoredPassword {
  realm: string;
  username: string;
  password: string;
  app: string;
}

export interface RestStub {
  readonly url: string;
  readonly port: number;
  readonly sessionKey: string;
  readonly passwords: StoredPassword[];
  readonly requests: { method: string; path: string; auth: string | undefined }[];
  /** TLS handshakes that completed (HTTPS only). */
  readonly handshakes: number;
  /** Answer every request with this status (e.g. 403, 500) when set. */
  failWith: number | undefined;
  /** TCP connections accepted (a run keeps one). */
  readonly connections: number;
  /** The KV store behind storage/collections/data, when started with `kvstore: true`. */
  readonly kv: KvStoreStub | undefined;
  close(): Promise<void>;
}

const UNAUTHORIZED = { messages: [{ type: 'WARN', text: 'call not properly authenticated' }] };

function entryFor(p: StoredPassword, origin: string): Record<string, unknown> {
  const name = `${p.realm}:${p.username}:`;
  const rel = `/servicesNS/nobody/${p.app}/storage/passwords/${encodeURIComponent(name)}`;
  return {
    name,
    id: `${origin}${rel}`,
    updated: '2026-11-24T00:00:00+00:00',
    links: { alternate: rel, list: rel, edit: rel, remove: rel },
    author: 'admin',
    acl: { app: p.app, can_change_perms: true, can_list: true, can_share_app: true, can_share_global: true, can_share_user: false, can_write: true, modifiable: true, owner: 'nobody', perms: { read: ['*'], write: ['admin'] }, removable: true, sharing: 'app' },
    content: { clear_password: p.password, 'eai:acl': null, encr_password: '$7$ZmFrZQ==', password: '********', realm: p.realm, username: p.username },
  };
}

function send(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json; charset=UTF-8', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

async function readBody(req: IncomingMessage): Promise<URLSearchParams> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  return new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
}

export interface StubOptions {
  sessionKey?: string;
  admin?: { user: string; password: string };
  /** Serve HTTPS with this key and certificate chain (PEM). */
  tls?: { key: string; cert: string };
  /** Serve the KV store's collection data endpoints too (an in-memory KV store stub with the same session key). */
  kvstore?: boolean;
}

export async function startRestStub(options: StubOptions = {}): Promise<RestStub> {
  const sessionKey = options.sessionKey ?? 'stub-session-key-0123456789';
  const admin = options.admin ?? { user: 'admin', password: 'changeme-Adm1n' };
  const passwords: StoredPassword[] = [];
  const requests: RestStub['requests'] = [];
  const kv = options.kvstore ? await startKvStoreStub({ sessionKey }) : undefined;
  let server: Server;
  const stub: RestStub = {
    url: '',
    port: 0,
    sessionKey,
    passwords,
    requests,
    handshakes: 0,
    failWith: undefined,
    connections: 0,
    kv,
    close: () =>
      new Promise((resolve) => {
        void kv?.close();
        server.close(() => resolve());
        // Keep-alive clients in this process would otherwise hold close() open.
        server.closeAllConnections();
      }),
  };
  const scheme = options.tls ? 'https' : 'http';
  const handler: RequestListener = async (req, res) => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    requests.push({ method: req.method ?? '', path: url.pathname, auth: req.headers.authorization });
    if (kv !== undefined && url.pathname.includes('/storage/collections/data/')) return kv.listener(req, res);
    const origin = `${scheme}://127.0.0.1:${stub.port}`;
    if (url.pathname.endsWith('/auth/login') && req.method === 'POST') {
      const form = await readBody(req);
      if (form.get('username') === admin.user && form.get('password') === admin.password) return send(res, 200, { sessionKey });
      return send(res, 401, { messages: [{ type: 'WARN', text: 'Login failed' }] });
    }
    if (req.headers.authorization !== `Splunk ${sessionKey}`) return send(res, 401, UNAUTHORIZED);
    if (url.pathname === '/services/server/info') {
      // The SDK reads the version after login.
      return send(res, 200, { generator: { build: 'stub', version: '10.2.3' }, entry: [{ name: 'server-info', content: { version: '10.2.3', instance_type: '' } }] });
    }
    if (stub.failWith !== undefined) return send(res, stub.failWith, { messages: [{ type: 'ERROR', text: `stub failure ${stub.failWith}` }] });
    const m = /^\/servicesNS\/([^/]+)\/([^/]+)\/storage\/passwords(?:\/([^/]+))?\/?$/.exec(url.pathname);
    if (!m) return send(res, 404, { messages: [{ type: 'ERROR', text: `Not Found: ${url.pathname}` }] });
    const app = decodeURIComponent(m[2]!);
    const entity = m[3] === undefined ? undefined : decodeURIComponent(m[3]);
    const visible = passwords.filter((p) => p.app === app || app === '-');
    const list = (items: StoredPassword[]) => send(res, 200, { links: { create: `/servicesNS/nobody/${app}/storage/passwords/_new` }, origin: `${origin}${url.pathname}`, updated: '2026-11-24T00:00:00+00:00', generator: { build: 'stub', version: '10.2.3' }, entry: items.map((p) => entryFor(p, origin)), paging: { total: items.length, perPage: 30, offset: 0 }, messages: [] });
    if (req.method === 'GET' && entity === undefined) {
      const search = url.searchParams.get('search') ?? '';
      const realm = /realm=(\S+)/.exec(search)?.[1];
      return list(visible.filter((p) => realm === undefined || p.realm === realm));
    }
    if (entity !== undefined) {
      const found = visible.find((p) => `${p.realm}:${p.username}:` === entity);
      if (!found) return send(res, 404, { messages: [{ type: 'ERROR', text: `Could not find object id=${entity}` }] });
      if (req.method === 'POST') {
        const form = await readBody(req);
        found.password = form.get('password') ?? found.password;
      }
      return list([found]);
    }
    if (req.method === 'POST') {
      const form = await readBody(req);
      const created: StoredPassword = { realm: form.get('realm') ?? '', username: form.get('name') ?? '', password: form.get('password') ?? '', app };
      if (!created.username || !created.password) return send(res, 400, { messages: [{ type: 'ERROR', text: 'name and password are required' }] });
      if (passwords.some((p) => p.app === app && p.realm === created.realm && p.username === created.username)) {
        return send(res, 409, { messages: [{ type: 'ERROR', text: 'An object with name=… already exists' }] });
      }
      passwords.push(created);
      return send(res, 201, { entry: [entryFor(created, origin)], messages: [] });
    }
    return send(res, 405, { messages: [{ type: 'ERROR', text: 'Method Not Allowed' }] });
  };
  if (options.tls) {
    const https = createHttpsServer({ key: options.tls.key, cert: options.tls.cert }, handler);
    https.on('secureConnection', () => ((stub as { handshakes: number }).handshakes += 1));
    server = https;
  } else {
    server = createServer(handler);
  }
  server.on('connection', () => ((stub as { connections: number }).connections += 1));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  (stub as { port: number }).port = port;
  (stub as { url: string }).url = `${scheme}://127.0.0.1:${port}`;
  return stub;
}
