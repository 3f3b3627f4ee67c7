/**
 * A small REST client for splunkd's KV store collection data endpoints
 * (/servicesNS/nobody/<app>/storage/collections/data/<collection>), authenticated with a session
 * key (`Authorization: Splunk <key>`), over one kept-alive connection per client.
 *
 * What it builds on (Splunk's REST reference and documentation):
 * - insert (POST to the collection) with a chosen `_key` fails when the key exists: the atomic
 *   claim. The failure's body text is documented; its HTTP status (409) is confirmed by
 *   documentation only, so a duplicate is recognised by the status OR by the message;
 * - POST to `/<_key>` replaces the whole document; `batch_save` upserts by `_key`;
 * - `query` takes $gt $gte $lt $lte $ne and $and $or $not; `batch_find` runs several queries in
 *   one POST;
 * - the KV store can be down or, since 9.4.2, read-only: writes then fail for a while, and the
 *   caller must survive it. Neither state has a documented status or text, so both are read from
 *   503 or from the message.
 *
 * Every operation answers a Result; nothing throws. The message of each failure names what an
 * admin can check or change.
 */
import type { Agent } from 'node:http';
import type { LookupFunction } from 'node:net';
import { fail, Failure, ok, Result } from '../result';
import { nodeRequest, NodeRequest, NodeResponse } from '../net/node-request';
import { certificateFailureMessage, certificateReason, DEFAULT_SPLUNK_HOME, ReadText, splunkdTlsOptions, SplunkTrust, TlsConnectOptions } from '../net/tls-trust';

export type KvErrorKind = 'duplicate_key' | 'not_found' | 'unauthorized' | 'unavailable' | 'limit' | 'io' | 'protocol';
export type KvFailure = Failure<KvErrorKind>;
export type KvResult<T> = Result<T, KvErrorKind>;

/** A stored document: JSON fields plus its `_key` (and splunkd's `_user`, when it adds it). */
export type KvDocument = { readonly _key: string } & { readonly [field: string]: unknown };

export type KvScalar = string | number | boolean | null;
/** The conditional operators the REST reference lists; `$not` inverts one of them. */
export interface KvCondition {
  readonly $gt?: KvScalar;
  readonly $gte?: KvScalar;
  readonly $lt?: KvScalar;
  readonly $lte?: KvScalar;
  readonly $ne?: KvScalar;
  readonly $not?: KvCondition;
}
/** `{field: value}`, `{field: {$gt: …}}`, `{$and: [...]}`, `{$or: [...]}`; several fields are ANDed. */
export type KvQuery = { readonly [field: string]: KvScalar | KvCondition | readonly KvQuery[] };

export interface KvSort {
  readonly field: string;
  readonly order?: 1 | -1;
}

export interface KvFind {
  readonly query?: KvQuery;
  readonly limit?: number;
  readonly skip?: number;
  readonly sort?: readonly KvSort[];
  /** As the REST reference writes them: `ip`, `verdict` (include) or `reason:0`, `_key:0` (exclude). */
  readonly fields?: readonly string[];
}

/** limits.conf [kvstore] values this client keeps below; see DEFAULT_KV_LIMITS. */
export interface KvLimits {
  readonly maxDocumentsPerBatchSave: number;
  readonly maxBatchSaveBytes: number;
  readonly maxQueriesPerBatch: number;
  readonly maxDocumentBytes: number;
}

/**
 * 1000 documents per batch_save: the default of older releases (newer ones allow 50000), so a
 * batch that fits here fits everywhere. 50 MB per batch, 1000 queries per batch_find (the
 * documented defaults), 16 MB per document (the store's document size).
 */
export const DEFAULT_KV_LIMITS: KvLimits = {
  maxDocumentsPerBatchSave: 1000,
  maxBatchSaveBytes: 50 * 1024 * 1024,
  maxQueriesPerBatch: 1000,
  maxDocumentBytes: 16 * 1024 * 1024,
};

export type KvRequest = (url: string, request: NodeRequest) => Promise<NodeResponse>;

export interface KvStoreClientOptions {
  /** splunkd's management URI, e.g. the payload's server_uri `https://127.0.0.1:8089`. */
  readonly baseUrl: string;
  readonly sessionKey: string;
  /** The app whose collections are used (namespace owner is always `nobody`). */
  readonly app?: string;
  /** Which certificate splunkd may present (src/net/tls-trust.ts); required for https. */
  readonly trust?: SplunkTrust;
  /** Sends one request; nodeRequest when absent (the alert action may pass its own). */
  readonly request?: KvRequest;
  /** Reads a CA file for the trust rules; fs.readFileSync when absent. */
  readonly readText?: ReadText;
  readonly lookup?: LookupFunction;
  readonly timeoutMs?: number;
  readonly limits?: Partial<KvLimits>;
  /** A connection pool shared with other splunkd requests (net/splunkd-agent.ts); the client's own when absent. close() leaves a given one open. */
  readonly agent?: Agent;
  /** TLS options built already (shared with the run's other splunkd requests); built from `trust` on the first request when absent. */
  readonly tls?: () => TlsConnectOptions;
}

export interface KvStoreClient {
  insert(collection: string, doc: KvDocument): Promise<KvResult<string>>;
  get(collection: string, key: string): Promise<KvResult<KvDocument>>;
  replace(collection: string, doc: KvDocument): Promise<KvResult<string>>;
  remove(collection: string, key: string): Promise<KvResult<void>>;
  /** Deletes every document the query matches (DELETE on the collection with `query`). */
  removeWhere(collection: string, query: KvQuery): Promise<KvResult<void>>;
  query(collection: string, find?: KvFind): Promise<KvResult<KvDocument[]>>;
  /** Upserts by `_key`; answers the keys in order. */
  batchSave(collection: string, docs: readonly KvDocument[]): Promise<KvResult<string[]>>;
  /** Several queries in one round trip; answers one list per query, in order. */
  batchFind(collection: string, finds: readonly KvFind[]): Promise<KvResult<KvDocument[][]>>;
  /** Requests sent (answered or not), for the benchmarks' round-trip budget. */
  readonly roundTrips: number;
  /** Closes the kept-alive connection. */
  close(): void;
}

export const KV_APP = 'soar_edr';
const DEFAULT_TIMEOUT_MS = 10_000;

// ------------------------------------------------------------------------------ pure parts

/** The documented text of a duplicate insert, and the looser forms it may take. */
const DUPLICATE_TEXT = /already exists/i;
/**
 * Not-ready, down or read-only: no status or text is documented for these states, so any
 * failure whose text says so is read as `unavailable` (a write to retry later), not as a bug.
 */
const UNAVAILABLE_TEXT = /read[- ]?only|kv ?store[^.]*\b(?:initiali[sz]ing|not ready|starting|shutting ?down|disabled|unavailable|failed|down)\b/i;
const LIMIT_TEXT = /\b(?:exceed(?:s|ed)?|too (?:many|large|big))\b/i;

/** The texts of splunkd's `{"messages":[{"type","text"}]}` error body; [] when it has none. */
export function splunkdMessages(body: string): string[] {
  try {
    const parsed = JSON.parse(body) as { messages?: unknown };
    if (!Array.isArray(parsed?.messages)) return [];
    return parsed.messages.flatMap((m: unknown) => (typeof m === 'object' && m !== null && typeof (m as { text?: unknown }).text === 'string' ? [(m as { text: string }).text] : []));
  } catch {
    return [];
  }
}

export type KvOperation = 'insert' | 'get' | 'replace' | 'delete' | 'query' | 'batch_save' | 'batch_find';

/**
 * The failure for a non-2xx answer. A duplicate key is the status 409 or the documented text,
 * either one: only the text is confirmed, the status comes from documentation alone.
 */
export function classifyStatus(op: KvOperation, collection: string, key: string | undefined, status: number, body: string, app = KV_APP): KvFailure {
  const texts = splunkdMessages(body);
  const said = texts.length > 0 ? `: ${texts.join('; ')}` : '';
  const where = `KV store collection ${collection} (app ${app})`;
  const doc = key === undefined ? '' : ` _key ${JSON.stringify(key)}`;
  const text = texts.join(' ');
  if (op === 'insert' && (status === 409 || DUPLICATE_TEXT.test(text))) {
    return { kind: 'duplicate_key', message: `a document with${doc} already exists in ${where} (HTTP ${status}${said})` };
  }
  if (status === 401) {
    return { kind: 'unauthorized', message: `splunkd rejected the session key for ${op} in ${where} (HTTP 401${said}): the key has expired or is wrong; an alert run gets a fresh one from splunkd, a CLI user logs in again` };
  }
  if (status === 403) {
    return { kind: 'unauthorized', message: `splunkd refused ${op} in ${where} (HTTP 403${said}): give the running user's role read and write access to the collection (the app's metadata, or Settings > Lookups > KV store collections)` };
  }
  if (status === 503 || UNAVAILABLE_TEXT.test(text)) {
    return { kind: 'unavailable', message: `the KV store cannot serve ${op} in ${where} now (HTTP ${status}${said}): it is starting, down or read-only; check \`splunk show kvstore-status\` (or the kvstore/status endpoint) and the KV store messages in splunkd.log; the work is kept and retried` };
  }
  if (LIMIT_TEXT.test(text) && (status === 400 || status === 413 || status >= 500)) {
    return { kind: 'limit', message: `splunkd refused ${op} in ${where} as too large (HTTP ${status}${said}): compare limits.conf [kvstore] max_documents_per_batch_save, max_size_per_batch_save_mb, max_queries_per_batch and max_rows_per_query with the app's batches` };
  }
  if (status === 404) {
    return { kind: 'not_found', message: `no document${doc} in ${where} (HTTP 404${said}); if the collection itself is missing, check that the app ${app} is installed and enabled on this search head (its collections.conf defines ${collection})` };
  }
  if (status >= 500) {
    return { kind: 'unavailable', message: `splunkd failed ${op} in ${where} (HTTP ${status}${said}): check the KV store status (\`splunk show kvstore-status\`) and splunkd.log; the work is kept and retried` };
  }
  return { kind: 'protocol', message: `splunkd refused ${op} in ${where} with HTTP ${status}${said}: the request does not match what this splunkd accepts; report it with the Splunk version` };
}

function protocolFailure(op: KvOperation, collection: string, what: string, app: string): KvFailure {
  return { kind: 'protocol', message: `splunkd answered ${op} in KV store collection ${collection} (app ${app}) with ${what}, not what the REST reference describes; check that server_uri points to splunkd's management port and report it with the Splunk version` };
}

/** Why a document cannot be sent, or undefined. */
function documentProblem(doc: unknown, limits: KvLimits): string | undefined {
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) return 'a document must be a JSON object';
  const key = (doc as { _key?: unknown })._key;
  if (typeof key !== 'string' || key === '') return 'a document needs a non-empty string _key';
  const bytes = Buffer.byteLength(JSON.stringify(doc), 'utf8');
  if (bytes > limits.maxDocumentBytes) return `document _key ${JSON.stringify(key)} is ${bytes} bytes, over the KV store's ${limits.maxDocumentBytes} bytes per document`;
  return undefined;
}

/** `field:1,other:-1` as the REST reference writes a sort. */
export function sortParam(sort: readonly KvSort[]): string {
  return sort.map((s) => `${s.field}:${s.order ?? 1}`).join(',');
}

/** The GET query string of a find (without the leading `?`); empty parts are left out. */
export function findParams(find: KvFind): string {
  const p = new URLSearchParams();
  if (find.query !== undefined && Object.keys(find.query).length > 0) p.set('query', JSON.stringify(find.query));
  if (find.fields !== undefined && find.fields.length > 0) p.set('fields', find.fields.join(','));
  if (find.sort !== undefined && find.sort.length > 0) p.set('sort', sortParam(find.sort));
  if (find.limit !== undefined) p.set('limit', String(find.limit));
  if (find.skip !== undefined) p.set('skip', String(find.skip));
  return p.toString();
}

/** One query of a batch_find body: the same names as the GET parameters. */
function findBody(find: KvFind): Record<string, unknown> {
  const out: Record<string, unknown> = { query: find.query ?? {} };
  if (find.fields !== undefined && find.fields.length > 0) out.fields = find.fields.join(',');
  if (find.sort !== undefined && find.sort.length > 0) out.sort = sortParam(find.sort);
  if (find.limit !== undefined) out.limit = find.limit;
  if (find.skip !== undefined) out.skip = find.skip;
  return out;
}

function isDocument(v: unknown): v is KvDocument {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && typeof (v as { _key?: unknown })._key === 'string';
}

function parseJson(text: string): { ok: true; value: unknown } | { ok: false } {
  try {
    return { ok: true, value: JSON.parse(text) };
  } catch {
    return { ok: false };
  }
}

// --------------------------------------------------------------------------- the shell

export function kvStoreClient(options: KvStoreClientOptions): KvStoreClient {
  const app = options.app ?? KV_APP;
  const limits: KvLimits = { ...DEFAULT_KV_LIMITS, ...(options.limits ?? {}) };
  const send = options.request ?? nodeRequest;
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const base = options.baseUrl.replace(/\/+$/, '');
  const target = (() => {
    try {
      return new URL(base);
    } catch {
      return undefined;
    }
  })();
  const https = target?.protocol === 'https:';
  let tls: TlsConnectOptions | undefined;
  let agent: Agent | undefined;
  let roundTrips = 0;

  const collectionUrl = (collection: string) => `${base}/servicesNS/nobody/${encodeURIComponent(app)}/storage/collections/data/${encodeURIComponent(collection)}`;

  async function call(op: KvOperation, collection: string, key: string | undefined, method: string, url: string, body?: unknown): Promise<KvResult<{ status: number; value: unknown }>> {
    if (target === undefined || (target.protocol !== 'https:' && target.protocol !== 'http:')) {
      return fail('io', `splunkd's address ${JSON.stringify(options.baseUrl)} is not an http(s) URL; the alert's server_uri (or the CLI's --host) must name splunkd's management port, e.g. https://127.0.0.1:8089`);
    }
    if (https && tls === undefined && options.tls !== undefined) tls = options.tls();
    if (https && tls === undefined) {
      // The CA files are read on the first request only; an alert that never asks never reads them.
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      const readText = options.readText ?? ((f: string) => (require('node:fs') as typeof import('node:fs')).readFileSync(f, 'utf8'));
      tls = splunkdTlsOptions(target.hostname, options.trust ?? { insecure: false, caPem: [], serverConfCa: false, splunkHome: DEFAULT_SPLUNK_HOME }, readText);
    }
    // One socket per client: the requests of a run queue on one kept-alive connection, which is
    // the round-trip budget the benchmarks report.
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    agent ??= options.agent ?? new ((https ? require('node:https') : require('node:http')) as typeof import('node:https')).Agent({ keepAlive: true, maxSockets: 1 });
    const headers: Record<string, string> = { Authorization: `Splunk ${options.sessionKey}`, Accept: 'application/json' };
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    roundTrips += 1;
    let res: NodeResponse;
    try {
      res = await send(url, {
        method,
        headers,
        body: body === undefined ? '' : JSON.stringify(body),
        timeoutMs,
        agent,
        ...(tls ? { tls } : {}),
        ...(options.lookup ? { lookup: options.lookup } : {}),
        // Results up to the documented 50 MB per result.
        maxBodyBytes: 50 * 1024 * 1024 + 1024,
      });
    } catch (e) {
      const err = e as NodeJS.ErrnoException;
      const reason = certificateReason(err.code);
      if (reason !== undefined) return fail('io', certificateFailureMessage(target.host, reason, options.trust?.serverConfCa ?? false));
      const why = err.code === 'ETIMEDOUT' ? `no answer within ${timeoutMs} ms` : `${err.code ?? 'error'}: ${err.message}`;
      return fail('io', `cannot reach splunkd at ${target.host} for ${op} in KV store collection ${collection} (${why}); check that splunkd runs and listens on that management port`);
    }
    if (res.status < 200 || res.status > 299) return { ok: false, error: classifyStatus(op, collection, key, res.status, res.text, app) };
    if (res.text.trim() === '') return ok({ status: res.status, value: undefined });
    const parsed = parseJson(res.text);
    if (!parsed.ok) return { ok: false, error: protocolFailure(op, collection, `a body that is not JSON (HTTP ${res.status}, ${res.text.length} bytes)`, app) };
    return ok({ status: res.status, value: parsed.value });
  }

  const keyUrl = (collection: string, key: string) => `${collectionUrl(collection)}/${encodeURIComponent(key)}`;
  const refused = (op: KvOperation, collection: string, why: string): KvResult<never> =>
    fail('limit', `${op} in KV store collection ${collection} was not sent: ${why}; nothing was written`);

  function keyOf(op: KvOperation, collection: string, value: unknown): KvResult<string> {
    if (typeof value === 'object' && value !== null && typeof (value as { _key?: unknown })._key === 'string') return ok((value as { _key: string })._key);
    return { ok: false, error: protocolFailure(op, collection, 'no _key in its answer', app) };
  }

  return {
    get roundTrips() {
      return roundTrips;
    },
    close() {
      if (options.agent === undefined) agent?.destroy();
      agent = undefined;
    },
    async insert(collection, doc) {
      const problem = documentProblem(doc, limits);
      if (problem !== undefined) return refused('insert', collection, problem);
      const r = await call('insert', collection, doc._key, 'POST', collectionUrl(collection), doc);
      return r.ok ? keyOf('insert', collection, r.value.value) : r;
    },
    async get(collection, key) {
      const r = await call('get', collection, key, 'GET', keyUrl(collection, key));
      if (!r.ok) return r;
      return isDocument(r.value.value) ? ok(r.value.value) : { ok: false, error: protocolFailure('get', collection, 'something other than one document', app) };
    },
    async replace(collection, doc) {
      const problem = documentProblem(doc, limits);
      if (problem !== undefined) return refused('replace', collection, problem);
      const r = await call('replace', collection, doc._key, 'POST', keyUrl(collection, doc._key), doc);
      return r.ok ? keyOf('replace', collection, r.value.value) : r;
    },
    async remove(collection, key) {
      const r = await call('delete', collection, key, 'DELETE', keyUrl(collection, key));
      return r.ok ? ok(undefined) : r;
    },
    async removeWhere(collection, query) {
      const qs = findParams({ query });
      // An empty query would delete the whole collection: never by accident.
      if (qs === '') return fail('protocol', `delete in KV store collection ${collection} was not sent: an empty query would delete every document`);
      const r = await call('delete', collection, undefined, 'DELETE', `${collectionUrl(collection)}?${qs}`);
      return r.ok ? ok(undefined) : r;
    },
    async query(collection, find = {}) {
      const qs = findParams(find);
      const r = await call('query', collection, undefined, 'GET', qs === '' ? collectionUrl(collection) : `${collectionUrl(collection)}?${qs}`);
      if (!r.ok) return r;
      const v = r.value.value;
      return Array.isArray(v) && v.every(isDocument) ? ok(v) : { ok: false, error: protocolFailure('query', collection, 'something other than a list of documents', app) };
    },
    async batchSave(collection, docs) {
      if (docs.length === 0) return ok([]);
      if (docs.length > limits.maxDocumentsPerBatchSave) return refused('batch_save', collection, `${docs.length} documents, over ${limits.maxDocumentsPerBatchSave} per batch (limits.conf [kvstore] max_documents_per_batch_save); split it`);
      for (const d of docs) {
        const problem = documentProblem(d, limits);
        if (problem !== undefined) return refused('batch_save', collection, problem);
      }
      const bytes = Buffer.byteLength(JSON.stringify(docs), 'utf8');
      if (bytes > limits.maxBatchSaveBytes) return refused('batch_save', collection, `${bytes} bytes, over ${limits.maxBatchSaveBytes} per batch (limits.conf [kvstore] max_size_per_batch_save_mb); split it`);
      const r = await call('batch_save', collection, undefined, 'POST', `${collectionUrl(collection)}/batch_save`, docs);
      if (!r.ok) return r;
      const v = r.value.value;
      return Array.isArray(v) && v.length === docs.length && v.every((k) => typeof k === 'string') ? ok(v as string[]) : { ok: false, error: protocolFailure('batch_save', collection, 'something other than one _key per document', app) };
    },
    async batchFind(collection, finds) {
      if (finds.length === 0) return ok([]);
      if (finds.length > limits.maxQueriesPerBatch) return refused('batch_find', collection, `${finds.length} queries, over ${limits.maxQueriesPerBatch} per batch (limits.conf [kvstore] max_queries_per_batch); split it`);
      const r = await call('batch_find', collection, undefined, 'POST', `${collectionUrl(collection)}/batch_find`, finds.map(findBody));
      if (!r.ok) return r;
      const v = r.value.value;
      const shaped = Array.isArray(v) && v.length === finds.length && v.every((list) => Array.isArray(list) && list.every(isDocument));
      return shaped ? ok(v as KvDocument[][]) : { ok: false, error: protocolFailure('batch_find', collection, 'something other than one list of documents per query', app) };
    },
  };
}
