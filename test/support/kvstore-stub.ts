/**
 * Loopback stand-in for splunkd's KV store REST API (storage/collections/data), following what
 * Splunk documents:
 * - POST to the collection inserts one document and answers 201 `{"_key": …}` (a key is made
 *   when the document has none); a `_key` that exists fails with the documented body
 *   "A document with the same key and user already exists." and, by default, 409 (that status
 *   is confirmed by documentation only: `duplicateStyle` makes the stub send only one of the two
 *   signals, so a client is tested on each);
 * - GET/POST/DELETE on `/<_key>`: one document, replace the whole document, remove it;
 * - GET with `query` ($gt $gte $lt $lte $ne, $and $or $not, nothing else: an operator the
 *   reference does not list is refused with 400), `fields`, `sort`, `limit`, `skip`;
 *   DELETE with `query` removes the matches (without it, every document);
 * - `batch_save` upserts a JSON array by `_key` and answers the keys; `batch_find` runs a
 *   JSON array of queries and answers one list per query;
 * - limits.conf [kvstore]: max_documents_per_batch_save, max_size_per_batch_save_mb,
 *   max_queries_per_batch, max_rows_per_query (configurable; defaults are the documented ones);
 * - 401 with splunkd's text for a wrong session key; `unavailable` answers 503 (the KV store is
 *   starting or down); `readOnly` refuses writes and serves reads, as read-only mode does (no
 *   status is documented for it: the stub answers `readOnlyStatus`, 500 unless told, so a
 *   client must read the text).
 * It counts requests and TCP connections, so a test can show a client kept one connection.
 */
import { createServer, IncomingMessage, RequestListener, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export type StubDocument = Record<string, unknown> & { _key: string };

export const DUPLICATE_TEXT = 'A document with the same key and user already exists.';
export const UNAUTHORIZED_TEXT = 'call not properly authenticated';
export const NOT_FOUND_TEXT = 'Could not find object.';
export const UNAVAILABLE_TEXT = 'KV Store is initializing. Please try again later.';
export const READ_ONLY_TEXT = 'KV Store is in read-only mode; write operations are not allowed.';

export interface KvStubLimits {
  maxDocumentsPerBatchSave: number;
  maxBatchSaveBytes: number;
  maxQueriesPerBatch: number;
  maxRowsPerQuery: number;
}

/** limits.conf [kvstore] defaults (9.2). */
export const DOCUMENTED_LIMITS: KvStubLimits = {
  maxDocumentsPerBatchSave: 50_000,
  maxBatchSaveBytes: 50 * 1024 * 1024,
  maxQueriesPerBatch: 1000,
  maxRowsPerQuery: 50_000,
};

export interface KvStubRequest {
  readonly method: string;
  readonly path: string;
  readonly search: string;
  readonly auth: string | undefined;
}

export interface KvStoreStub {
  readonly url: string;
  readonly port: number;
  readonly sessionKey: string;
  readonly app: string;
  /** collection name → _key → document (without `_user`, which the stub adds on reads). */
  readonly collections: Map<string, Map<string, StubDocument>>;
  readonly requests: KvStubRequest[];
  /** TCP connections accepted. */
  readonly connections: number;
  readonly limits: KvStubLimits;
  /** Answer 503 to every authenticated request. */
  unavailable: boolean;
  /** Refuse writes (reads still served). */
  readOnly: boolean;
  readOnlyStatus: number;
  /** Which signals a duplicate insert carries: both (default), only the 409, or only the text. */
  duplicateStyle: 'documented' | 'status-only' | 'message-only';
  /** Called before the handler: an answer here replaces the stub's (for malformed-answer tests). */
  override: ((req: KvStubRequest) => { status: number; body: string } | undefined) | undefined;
  docs(collection: string): StubDocument[];
  /** The stub's request handler, for a splunkd stub that serves the KV store beside other endpoints. */
  readonly listener: RequestListener;
  close(): Promise<void>;
}

export interface KvStubOptions {
  sessionKey?: string;
  app?: string;
  limits?: Partial<KvStubLimits>;
}

class StubError extends Error {
  constructor(
    readonly status: number,
    text: string,
  ) {
    super(text);
  }
}

// ------------------------------------------------------------------------------ query semantics

const COMPARISONS = new Set(['$gt', '$gte', '$lt', '$lte', '$ne', '$not']);

/** Values of one type compare; across types no range operator matches (as the stub's simplification). */
function compare(a: unknown, b: unknown): number | undefined {
  if (typeof a === 'number' && typeof b === 'number') return a - b;
  if (typeof a === 'string' && typeof b === 'string') return a < b ? -1 : a > b ? 1 : 0;
  if (typeof a === 'boolean' && typeof b === 'boolean') return Number(a) - Number(b);
  return undefined;
}

function conditionMatches(value: unknown, cond: unknown): boolean {
  if (typeof cond !== 'object' || cond === null || Array.isArray(cond)) return value === cond;
  const entries = Object.entries(cond as Record<string, unknown>);
  if (entries.length === 0) throw new StubError(400, 'Empty condition in query');
  return entries.every(([op, operand]) => {
    if (!COMPARISONS.has(op)) throw new StubError(400, `Unsupported operator in query: ${op}`);
    if (op === '$ne') return value !== operand;
    if (op === '$not') return !conditionMatches(value, operand);
    const c = compare(value, operand);
    if (c === undefined) return false;
    return op === '$gt' ? c > 0 : op === '$gte' ? c >= 0 : op === '$lt' ? c < 0 : c <= 0;
  });
}

export function queryMatches(doc: Record<string, unknown>, query: unknown): boolean {
  if (typeof query !== 'object' || query === null || Array.isArray(query)) throw new StubError(400, 'query must be a JSON object');
  return Object.entries(query as Record<string, unknown>).every(([field, cond]) => {
    if (field === '$and' || field === '$or') {
      if (!Array.isArray(cond)) throw new StubError(400, `${field} takes an array of queries`);
      return field === '$and' ? cond.every((q) => queryMatches(doc, q)) : cond.some((q) => queryMatches(doc, q));
    }
    if (field.startsWith('$')) throw new StubError(400, `Unsupported operator in query: ${field}`);
    return conditionMatches(doc[field], cond);
  });
}

function sortDocs(docs: StubDocument[], sort: string): StubDocument[] {
  const keys = sort
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '')
    .map((s) => {
      const [field, order] = s.split(':');
      return { field: field!.trim(), order: order?.trim() === '-1' ? -1 : 1 };
    });
  return [...docs].sort((a, b) => {
    for (const k of keys) {
      const av = a[k.field];
      const bv = b[k.field];
      if (av === bv) continue;
      // Missing values first, then by value within a type, types in a fixed order.
      if (av === undefined) return -k.order;
      if (bv === undefined) return k.order;
      const c = compare(av, bv) ?? (typeof av < typeof bv ? -1 : 1);
      if (c !== 0) return c < 0 ? -k.order : k.order;
    }
    return 0;
  });
}

function project(doc: Record<string, unknown>, fields: string): Record<string, unknown> {
  const specs = fields
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '')
    .map((s) => {
      const [name, flag] = s.split(':');
      return { name: name!, include: flag === undefined || flag === '1' };
    });
  const includes = specs.filter((s) => s.include).map((s) => s.name);
  const excludes = specs.filter((s) => !s.include).map((s) => s.name);
  if (includes.length > 0 && excludes.some((n) => n !== '_key')) throw new StubError(400, 'fields cannot mix include and exclude, except _key:0');
  if (includes.length > 0) {
    const out: Record<string, unknown> = {};
    for (const n of ['_key', ...includes]) if (n in doc && !excludes.includes(n)) out[n] = doc[n];
    return out;
  }
  const out = { ...doc };
  for (const n of excludes) delete out[n];
  return out;
}

interface Find {
  query?: unknown;
  fields?: string;
  sort?: string;
  limit?: number;
  skip?: number;
}

function runFind(all: StubDocument[], find: Find, maxRows: number): Record<string, unknown>[] {
  let docs = find.query === undefined ? all : all.filter((d) => queryMatches(d, find.query));
  if (find.sort) docs = sortDocs(docs, find.sort);
  const skip = find.skip ?? 0;
  const limit = find.limit === undefined || find.limit === 0 ? maxRows : Math.min(find.limit, maxRows);
  return docs.slice(skip, skip + limit).map((d) => (find.fields ? project(withUser(d), find.fields) : withUser(d)));
}

function withUser(d: StubDocument): Record<string, unknown> {
  return { ...d, _user: 'nobody' };
}

function parseJsonParam(text: string, what: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    throw new StubError(400, `${what} is not valid JSON`);
  }
}

function numberParam(text: string | null, what: string): number | undefined {
  if (text === null) return undefined;
  if (!/^\d+$/.test(text)) throw new StubError(400, `${what} must be a non-negative integer`);
  return Number(text);
}

let keySeq = 0;
function newKey(): string {
  keySeq += 1;
  return (Date.now().toString(16) + keySeq.toString(16)).padStart(24, '0').slice(-24);
}

// ------------------------------------------------------------------------------ the server

function send(res: ServerResponse, status: number, body: unknown): void {
  const text = body === undefined ? '' : JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json; charset=UTF-8', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

function errorBody(text: string, type = 'ERROR'): unknown {
  return { messages: [{ type, text }] };
}

async function readText(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

export async function startKvStoreStub(options: KvStubOptions = {}): Promise<KvStoreStub> {
  const sessionKey = options.sessionKey ?? 'stub-kv-session-key-0123456789';
  const app = options.app ?? 'soar_edr';
  const collections = new Map<string, Map<string, StubDocument>>();
  const limits: KvStubLimits = { ...DOCUMENTED_LIMITS, ...(options.limits ?? {}) };
  let server: Server;
  const stub: KvStoreStub = {
    url: '',
    port: 0,
    sessionKey,
    app,
    collections,
    requests: [],
    connections: 0,
    limits,
    unavailable: false,
    readOnly: false,
    readOnlyStatus: 500,
    duplicateStyle: 'documented',
    override: undefined,
    docs: (c) => [...(collections.get(c)?.values() ?? [])],
    listener: () => undefined,
    close: () =>
      new Promise((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
  const coll = (name: string) => {
    let c = collections.get(name);
    if (c === undefined) collections.set(name, (c = new Map()));
    return c;
  };

  function handle(method: string, url: URL, auth: string | undefined, body: string): { status: number; body: unknown } {
    if (auth !== `Splunk ${sessionKey}`) return { status: 401, body: errorBody(UNAUTHORIZED_TEXT, 'WARN') };
    if (stub.unavailable) return { status: 503, body: errorBody(UNAVAILABLE_TEXT) };
    const m = /^\/servicesNS\/([^/]+)\/([^/]+)\/storage\/collections\/data\/([^/]+)(?:\/([^/]+))?\/?$/.exec(url.pathname);
    if (!m || decodeURIComponent(m[2]!) !== app) return { status: 404, body: errorBody(`Not Found: ${url.pathname}`) };
    const name = decodeURIComponent(m[3]!);
    const sub = m[4] === undefined ? undefined : decodeURIComponent(m[4]);
    const docs = coll(name);
    const write = method === 'DELETE' || (method === 'POST' && sub !== 'batch_find');
    if (write && stub.readOnly) return { status: stub.readOnlyStatus, body: errorBody(READ_ONLY_TEXT) };
    const documentOf = (v: unknown): StubDocument => {
      if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new StubError(400, 'Document must be a JSON object');
      const d = { ...(v as Record<string, unknown>) };
      delete d._user;
      if (d._key === undefined) d._key = newKey();
      if (typeof d._key !== 'string') throw new StubError(400, '_key must be a string');
      return d as StubDocument;
    };

    if (sub === 'batch_save' && method === 'POST') {
      if (Buffer.byteLength(body) > limits.maxBatchSaveBytes) throw new StubError(400, `Request exceeds API limits - see limits.conf for details. (Request size exceeds max_size_per_batch_save_mb)`);
      const list = parseJsonParam(body, 'batch_save body');
      if (!Array.isArray(list)) throw new StubError(400, 'batch_save takes a JSON array of documents');
      if (list.length > limits.maxDocumentsPerBatchSave) throw new StubError(400, `Request exceeds API limits - see limits.conf for details. (Too many documents for a single batch save, max=${limits.maxDocumentsPerBatchSave})`);
      const parsed = list.map(documentOf);
      for (const d of parsed) docs.set(d._key, d);
      return { status: 200, body: parsed.map((d) => d._key) };
    }
    if (sub === 'batch_find' && method === 'POST') {
      const list = parseJsonParam(body, 'batch_find body');
      if (!Array.isArray(list)) throw new StubError(400, 'batch_find takes a JSON array of queries');
      if (list.length > limits.maxQueriesPerBatch) throw new StubError(400, `Request exceeds API limits - see limits.conf for details. (Too many queries for a single batch, max=${limits.maxQueriesPerBatch})`);
      const all = [...docs.values()];
      return { status: 200, body: list.map((f: Find) => runFind(all, f, limits.maxRowsPerQuery)) };
    }
    if (sub !== undefined) {
      const found = docs.get(sub);
      if (method === 'GET') return found ? { status: 200, body: withUser(found) } : { status: 404, body: errorBody(NOT_FOUND_TEXT) };
      if (method === 'DELETE') {
        if (!found) return { status: 404, body: errorBody(NOT_FOUND_TEXT) };
        docs.delete(sub);
        return { status: 200, body: undefined };
      }
      if (method === 'POST') {
        // Not documented for a missing key; the stub refuses, so no caller relies on an upsert here.
        if (!found) return { status: 404, body: errorBody(NOT_FOUND_TEXT) };
        const d = documentOf(parseJsonParam(body, 'document'));
        d._key = sub;
        docs.set(sub, d);
        return { status: 200, body: { _key: sub } };
      }
      return { status: 405, body: errorBody('Method Not Allowed') };
    }
    if (method === 'POST') {
      const d = documentOf(parseJsonParam(body, 'document'));
      if (docs.has(d._key)) {
        if (stub.duplicateStyle === 'status-only') return { status: 409, body: errorBody('Conflict') };
        if (stub.duplicateStyle === 'message-only') return { status: 400, body: errorBody(DUPLICATE_TEXT) };
        return { status: 409, body: errorBody(DUPLICATE_TEXT) };
      }
      docs.set(d._key, d);
      return { status: 201, body: { _key: d._key } };
    }
    const queryText = url.searchParams.get('query');
    const query = queryText === null ? undefined : parseJsonParam(queryText, 'query');
    if (method === 'GET') {
      const find: Find = {
        query,
        fields: url.searchParams.get('fields') ?? undefined,
        sort: url.searchParams.get('sort') ?? undefined,
        limit: numberParam(url.searchParams.get('limit'), 'limit'),
        skip: numberParam(url.searchParams.get('skip'), 'skip'),
      };
      return { status: 200, body: runFind([...docs.values()], find, limits.maxRowsPerQuery) };
    }
    if (method === 'DELETE') {
      for (const d of [...docs.values()]) if (query === undefined || queryMatches(d, query)) docs.delete(d._key);
      return { status: 200, body: undefined };
    }
    return { status: 405, body: errorBody('Method Not Allowed') };
  }

  const listener: RequestListener = async (req, res) => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const record: KvStubRequest = { method: req.method ?? '', path: url.pathname, search: url.search, auth: req.headers.authorization };
    stub.requests.push(record);
    const body = await readText(req);
    const forced = stub.override?.(record);
    if (forced !== undefined) {
      res.writeHead(forced.status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(forced.body) });
      res.end(forced.body);
      return;
    }
    try {
      const answer = handle(record.method, url, record.auth, body);
      send(res, answer.status, answer.body);
    } catch (e) {
      if (e instanceof StubError) send(res, e.status, errorBody(e.message));
      else send(res, 500, errorBody(`stub failure: ${(e as Error).message}`));
    }
  };
  (stub as { listener: RequestListener }).listener = listener;
  server = createServer(listener);
  server.on('connection', () => ((stub as { connections: number }).connections += 1));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  (stub as { port: number }).port = port;
  (stub as { url: string }).url = `http://127.0.0.1:${port}`;
  return stub;
}
