import assert from 'node:assert/strict';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { nodeRequest, NodeRequest } from '../../src/net/node-request';
import { classifyStatus, KvDocument, KvErrorKind, KvResult, kvStoreClient, KvStoreClient } from '../../src/store/kvstore-client';
import { DUPLICATE_TEXT, KvStoreStub, NOT_FOUND_TEXT, startKvStoreStub, UNAUTHORIZED_TEXT } from '../support/kvstore-stub';

const COLL = 'soar_blocklist';

function failed<T>(r: KvResult<T>, kind: KvErrorKind): string {
  assert.ok(!r.ok, `expected a ${kind} failure, got ${JSON.stringify(r)}`);
  assert.equal(r.error.kind, kind, r.error.message);
  return r.error.message;
}

function value<T>(r: KvResult<T>): T {
  assert.ok(r.ok, r.ok ? '' : `${r.error.kind}: ${r.error.message}`);
  return r.value;
}

const PEOPLE: KvDocument[] = [
  { _key: 'a', name: 'ann', age: 31, city: 'Oslo' },
  { _key: 'b', name: 'bob', age: 25, city: 'Rome' },
  { _key: 'c', name: 'cid', age: 40, city: 'Oslo' },
  { _key: 'd', name: 'dan', age: 25, city: 'Lima' },
];

const keys = (docs: readonly KvDocument[]) => docs.map((d) => d._key);

describe('store/kvstore-client against the KV store stub', () => {
  let stub: KvStoreStub;
  let client: KvStoreClient;
  before(async () => {
    stub = await startKvStoreStub();
  });
  beforeEach(() => {
    client = kvStoreClient({ baseUrl: stub.url, sessionKey: stub.sessionKey });
  });
  afterEach(() => {
    client.close();
    stub.collections.clear();
    stub.unavailable = false;
    stub.readOnly = false;
    stub.duplicateStyle = 'documented';
    stub.override = undefined;
  });
  after(async () => {
    await stub.close();
  });

  it('insert then get: the document comes back, sent to the app namespace with the session key', async () => {
    assert.equal(value(await client.insert(COLL, { _key: '203.0.113.7', count: 1, verdict: 'malicious' })), '203.0.113.7');
    const doc = value(await client.get(COLL, '203.0.113.7'));
    assert.equal(doc.count, 1);
    assert.equal(doc.verdict, 'malicious');
    const last = stub.requests.at(-1)!;
    assert.equal(last.path, `/servicesNS/nobody/soar_edr/storage/collections/data/${COLL}/203.0.113.7`);
    assert.equal(last.auth, `Splunk ${stub.sessionKey}`);
    assert.equal(client.roundTrips, 2);
  });

  it('an insert whose _key exists is duplicate_key and leaves the first document as it was', async () => {
    value(await client.insert(COLL, { _key: 'k', owner: 'first' }));
    const message = failed(await client.insert(COLL, { _key: 'k', owner: 'second' }), 'duplicate_key');
    assert.match(message, /_key "k" already exists in KV store collection soar_blocklist/);
    assert.equal(value(await client.get(COLL, 'k')).owner, 'first');
  });

  it('a duplicate is recognised when only the status (409) says so', async () => {
    stub.duplicateStyle = 'status-only';
    value(await client.insert(COLL, { _key: 'k' }));
    failed(await client.insert(COLL, { _key: 'k' }), 'duplicate_key');
  });

  it('a duplicate is recognised when only the message says so', async () => {
    stub.duplicateStyle = 'message-only';
    value(await client.insert(COLL, { _key: 'k' }));
    const message = failed(await client.insert(COLL, { _key: 'k' }), 'duplicate_key');
    assert.match(message, /HTTP 400/);
  });

  it('an insert refused with neither signal is not taken for a duplicate', async () => {
    stub.override = () => ({ status: 400, body: JSON.stringify({ messages: [{ type: 'ERROR', text: 'Invalid document' }] }) });
    failed(await client.insert(COLL, { _key: 'k' }), 'protocol');
  });

  it('replace swaps the whole document; a missing _key is not_found', async () => {
    value(await client.insert(COLL, { _key: 'k', a: 1, b: 2 }));
    assert.equal(value(await client.replace(COLL, { _key: 'k', a: 9 })), 'k');
    const doc = value(await client.get(COLL, 'k'));
    assert.equal(doc.a, 9);
    assert.equal(doc.b, undefined, 'replace is not a merge');
    failed(await client.replace(COLL, { _key: 'nope', a: 1 }), 'not_found');
  });

  it('remove deletes by _key; get and remove of a missing _key are not_found with an actionable message', async () => {
    value(await client.insert(COLL, { _key: 'k' }));
    value(await client.remove(COLL, 'k'));
    const message = failed(await client.get(COLL, 'k'), 'not_found');
    assert.match(message, /no document _key "k" in KV store collection soar_blocklist.*app soar_edr is installed/);
    failed(await client.remove(COLL, 'k'), 'not_found');
  });

  it('query: the documented operators, sort, skip, limit and fields', async () => {
    value(await client.batchSave(COLL, PEOPLE));
    const q = async (find: Parameters<KvStoreClient['query']>[1]) => keys(value(await client.query(COLL, find))).sort();
    assert.deepEqual(await q({}), ['a', 'b', 'c', 'd']);
    assert.deepEqual(await q({ query: { city: 'Oslo' } }), ['a', 'c']);
    assert.deepEqual(await q({ query: { age: { $gt: 25 } } }), ['a', 'c']);
    assert.deepEqual(await q({ query: { age: { $gte: 31 } } }), ['a', 'c']);
    assert.deepEqual(await q({ query: { age: { $lt: 31 } } }), ['b', 'd']);
    assert.deepEqual(await q({ query: { age: { $lte: 31 } } }), ['a', 'b', 'd']);
    assert.deepEqual(await q({ query: { city: { $ne: 'Oslo' } } }), ['b', 'd']);
    assert.deepEqual(await q({ query: { age: { $not: { $gt: 30 } } } }), ['b', 'd']);
    assert.deepEqual(await q({ query: { $and: [{ city: 'Oslo' }, { age: { $lt: 35 } }] } }), ['a']);
    assert.deepEqual(await q({ query: { $or: [{ city: 'Lima' }, { age: 40 }] } }), ['c', 'd']);
    assert.deepEqual(await q({ query: { age: { $gt: 20, $lt: 30 } } }), ['b', 'd']);
    const sorted = value(await client.query(COLL, { sort: [{ field: 'age', order: -1 }, { field: 'name' }], skip: 1, limit: 2 }));
    assert.deepEqual(keys(sorted), ['a', 'b']);
    const slim = value(await client.query(COLL, { query: { _key: 'a' }, fields: ['name'] }));
    assert.deepEqual(slim, [{ _key: 'a', name: 'ann' }]);
    const without = value(await client.query(COLL, { query: { _key: 'a' }, fields: ['city:0', 'age:0'] }));
    assert.deepEqual(Object.keys(without[0]!).sort(), ['_key', '_user', 'name']);
  });

  it('removeWhere deletes the matches only; an empty query is refused before anything is sent', async () => {
    value(await client.batchSave(COLL, PEOPLE));
    value(await client.removeWhere(COLL, { age: 25 }));
    assert.deepEqual(stub.docs(COLL).map((d) => d._key).sort(), ['a', 'c']);
    const before = client.roundTrips;
    assert.ok(!(await client.removeWhere(COLL, {})).ok);
    assert.equal(client.roundTrips, before);
    assert.equal(stub.docs(COLL).length, 2);
  });

  it('batch_save upserts by _key and answers the keys in order', async () => {
    value(await client.insert(COLL, { _key: 'b', name: 'old' }));
    assert.deepEqual(value(await client.batchSave(COLL, [PEOPLE[1]!, PEOPLE[0]!])), ['b', 'a']);
    assert.equal(value(await client.get(COLL, 'b')).name, 'bob');
    assert.equal(stub.docs(COLL).length, 2);
  });

  it('batch_find runs several queries in one round trip, one list per query', async () => {
    value(await client.batchSave(COLL, PEOPLE));
    const before = client.roundTrips;
    const lists = value(await client.batchFind(COLL, [{ query: { city: 'Oslo' }, sort: [{ field: 'age' }] }, { query: { _key: 'nope' } }, { query: { age: 25 }, fields: ['name'], limit: 1, sort: [{ field: 'name', order: -1 }] }]));
    assert.equal(client.roundTrips, before + 1);
    assert.deepEqual(keys(lists[0]!), ['a', 'c']);
    assert.deepEqual(lists[1], []);
    assert.deepEqual(lists[2], [{ _key: 'd', name: 'dan' }]);
  });

  it('limit: a batch over the client limit is refused without a round trip, naming the limits.conf setting', async () => {
    const docs = Array.from({ length: 1001 }, (_, i) => ({ _key: `k${i}` }));
    const sent = stub.requests.length;
    assert.match(failed(await client.batchSave(COLL, docs), 'limit'), /max_documents_per_batch_save/);
    assert.match(failed(await client.batchFind(COLL, Array.from({ length: 1001 }, () => ({}))), 'limit'), /max_queries_per_batch/);
    const small = kvStoreClient({ baseUrl: stub.url, sessionKey: stub.sessionKey, limits: { maxDocumentBytes: 100 } });
    assert.match(failed(await small.insert(COLL, { _key: 'big', text: 'x'.repeat(200) }), 'limit'), /per document/);
    small.close();
    assert.equal(stub.requests.length, sent, 'nothing reached splunkd');
    assert.equal(client.roundTrips, 0);
  });

  it('limit: splunkd refusing a batch over its own limits.conf is a limit failure', async () => {
    const tight = await startKvStoreStub({ limits: { maxDocumentsPerBatchSave: 5, maxQueriesPerBatch: 2 } });
    const c = kvStoreClient({ baseUrl: tight.url, sessionKey: tight.sessionKey });
    try {
      const message = failed(await c.batchSave(COLL, PEOPLE.concat(PEOPLE.map((p) => ({ ...p, _key: `${p._key}2` })))), 'limit');
      assert.match(message, /HTTP 400: Request exceeds API limits.*max_documents_per_batch_save/);
      assert.equal(tight.docs(COLL).length, 0);
      failed(await c.batchFind(COLL, [{}, {}, {}]), 'limit');
    } finally {
      c.close();
      await tight.close();
    }
  });

  it('unauthorized: a wrong session key is 401, and the message never shows the key', async () => {
    const wrong = kvStoreClient({ baseUrl: stub.url, sessionKey: 'wrong-key-9f8e7d' });
    try {
      const message = failed(await wrong.get(COLL, 'k'), 'unauthorized');
      assert.match(message, new RegExp(`HTTP 401: ${UNAUTHORIZED_TEXT}.*fresh one`));
      assert.ok(!message.includes('wrong-key-9f8e7d') && !message.includes(stub.sessionKey));
      failed(await wrong.insert(COLL, { _key: 'k' }), 'unauthorized');
      assert.equal(stub.docs(COLL).length, 0);
    } finally {
      wrong.close();
    }
  });

  it('unavailable: 503 while the KV store is down, for reads and writes', async () => {
    stub.unavailable = true;
    assert.match(failed(await client.get(COLL, 'k'), 'unavailable'), /HTTP 503.*kvstore-status/);
    failed(await client.insert(COLL, { _key: 'k' }), 'unavailable');
    failed(await client.batchSave(COLL, PEOPLE), 'unavailable');
    stub.unavailable = false;
    value(await client.insert(COLL, { _key: 'k' }));
  });

  it('unavailable: read-only mode refuses writes (known by its text, not its status) and still serves reads', async () => {
    value(await client.insert(COLL, { _key: 'k', n: 1 }));
    stub.readOnly = true;
    for (const status of [500, 400]) {
      stub.readOnlyStatus = status;
      assert.match(failed(await client.replace(COLL, { _key: 'k', n: 2 }), 'unavailable'), /read-only/);
      failed(await client.insert(COLL, { _key: 'j' }), 'unavailable');
      failed(await client.batchSave(COLL, PEOPLE), 'unavailable');
      failed(await client.remove(COLL, 'k'), 'unavailable');
    }
    assert.equal(value(await client.get(COLL, 'k')).n, 1);
    assert.equal(value(await client.batchFind(COLL, [{ query: { n: 1 } }]))[0]!.length, 1);
  });

  it('io: a closed port and a splunkd that never answers, each named with where to look', async () => {
    const closed = http.createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    const refused = kvStoreClient({ baseUrl: `http://127.0.0.1:${port}`, sessionKey: 'k' });
    assert.match(failed(await refused.get(COLL, 'x'), 'io'), new RegExp(`cannot reach splunkd at 127\\.0\\.0\\.1:${port}.*ECONNREFUSED.*management port`));
    assert.equal(refused.roundTrips, 1, 'a request that got no answer still counts');
    refused.close();

    const held: http.ServerResponse[] = [];
    const silent = http.createServer((_req, res) => held.push(res));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const slow = kvStoreClient({ baseUrl: `http://127.0.0.1:${(silent.address() as AddressInfo).port}`, sessionKey: 'k', timeoutMs: 150 });
    try {
      assert.match(failed(await slow.insert(COLL, { _key: 'x' }), 'io'), /no answer within 150 ms/);
    } finally {
      slow.close();
      for (const r of held) r.destroy();
      silent.closeAllConnections();
      await new Promise<void>((resolve) => silent.close(() => resolve()));
    }
    assert.match(failed(await kvStoreClient({ baseUrl: 'splunkd:8089', sessionKey: 'k' }).get(COLL, 'x'), 'io'), /server_uri/);
  });

  it('protocol: answers that are not what the reference describes', async () => {
    value(await client.insert(COLL, { _key: 'k' }));
    stub.override = () => ({ status: 200, body: '<html>proxy login</html>' });
    assert.match(failed(await client.get(COLL, 'k'), 'protocol'), /not JSON.*management port/);
    stub.override = () => ({ status: 200, body: '{"entry":[]}' });
    failed(await client.query(COLL), 'protocol');
    failed(await client.get(COLL, 'k'), 'protocol');
    stub.override = () => ({ status: 201, body: '{}' });
    failed(await client.insert(COLL, { _key: 'z' }), 'protocol');
    stub.override = () => ({ status: 200, body: '["only-one"]' });
    failed(await client.batchSave(COLL, PEOPLE), 'protocol');
    stub.override = () => ({ status: 200, body: '[[]]' });
    failed(await client.batchFind(COLL, [{}, {}]), 'protocol');
    stub.override = undefined;
    // An operator the reference does not list: splunkd (the stub) refuses it.
    failed(await client.query(COLL, { query: { age: { $in: [1] } } as never }), 'protocol');
  });

  it('keep-alive: many operations, sequential or at once, over one connection', async () => {
    const before = stub.connections;
    for (let i = 0; i < 8; i++) value(await client.insert(COLL, { _key: `k${i}` }));
    value(await client.query(COLL, { limit: 3 }));
    await Promise.all(Array.from({ length: 6 }, (_, i) => client.get(COLL, `k${i}`)));
    assert.equal(client.roundTrips, 15);
    assert.equal(stub.connections - before, 1);
  });

  it('atomic claim: 20 concurrent inserts of one _key from 20 clients give exactly one success', async () => {
    const clients = Array.from({ length: 20 }, () => kvStoreClient({ baseUrl: stub.url, sessionKey: stub.sessionKey }));
    try {
      const results = await Promise.all(clients.map((c, i) => c.insert('soar_incidents', { _key: 'sid-1:rid-0', member: i })));
      const wins = results.flatMap((r, i) => (r.ok ? [i] : []));
      assert.equal(wins.length, 1);
      assert.ok(results.every((r) => r.ok || r.error.kind === 'duplicate_key'));
      assert.equal(stub.docs('soar_incidents').length, 1);
      assert.equal(stub.docs('soar_incidents')[0]!.member, wins[0]);
    } finally {
      for (const c of clients) c.close();
    }
  });

  it('sends through the request function it is given, with its own kept-alive agent and the trust rules for https', async () => {
    const seen: { url: string; request: NodeRequest }[] = [];
    const c = kvStoreClient({
      baseUrl: 'https://127.0.0.1:8089/',
      sessionKey: 'sk',
      trust: { insecure: false, caPem: [], serverConfCa: true, splunkHome: '/nonexistent-splunk' },
      readText: () => {
        throw new Error('no file');
      },
      request: async (url, request) => {
        seen.push({ url, request });
        return { status: 201, headers: {}, text: '{"_key":"x"}' };
      },
    });
    value(await c.insert('soar_intel', { _key: 'x', v: 1 }));
    value(await c.insert('soar_intel', { _key: 'x', v: 1 }));
    c.close();
    assert.equal(seen[0]!.url, 'https://127.0.0.1:8089/servicesNS/nobody/soar_edr/storage/collections/data/soar_intel');
    assert.equal(seen[0]!.request.headers.Authorization, 'Splunk sk');
    assert.deepEqual(JSON.parse(seen[0]!.request.body), { _key: 'x', v: 1 });
    assert.equal(typeof seen[0]!.request.tls?.checkServerIdentity, 'function', 'splunkd certificate rules applied');
    assert.ok(seen[0]!.request.agent !== undefined && seen[0]!.request.agent === seen[1]!.request.agent, 'one agent per client');
    assert.equal((seen[0]!.request.agent as unknown as { keepAlive: boolean }).keepAlive, true);
  });
});

describe('store/kvstore-client classifyStatus (the rules by status and by text)', () => {
  const body = (text: string) => JSON.stringify({ messages: [{ type: 'ERROR', text }] });
  it('409 on an insert is a duplicate even with no body; 409 on another operation is not', () => {
    assert.equal(classifyStatus('insert', 'c', 'k', 409, '').kind, 'duplicate_key');
    assert.notEqual(classifyStatus('replace', 'c', 'k', 409, '').kind, 'duplicate_key');
  });
  it('read-only or not-ready text is unavailable whatever the status; another 5xx is unavailable too', () => {
    assert.equal(classifyStatus('insert', 'c', 'k', 400, body('KV Store is in read-only mode')).kind, 'unavailable');
    assert.equal(classifyStatus('get', 'c', 'k', 500, body('KV Store is initializing. Please try again later.')).kind, 'unavailable');
    assert.equal(classifyStatus('get', 'c', 'k', 502, '').kind, 'unavailable');
  });
  it('403 names the collection permission; other 4xx are protocol', () => {
    const f = classifyStatus('insert', 'soar_intel', 'k', 403, body('Permission denied'));
    assert.equal(f.kind, 'unauthorized');
    assert.match(f.message, /read and write access to the collection/);
    assert.equal(classifyStatus('query', 'c', undefined, 400, body('bad query')).kind, 'protocol');
  });
});

describe('KV store stub follows the documented REST semantics', () => {
  let stub: KvStoreStub;
  const base = () => `${stub.url}/servicesNS/nobody/soar_edr/storage/collections/data`;
  const call = (method: string, path: string, body?: unknown, key = stub.sessionKey) =>
    nodeRequest(`${base()}${path}`, { method, headers: { Authorization: `Splunk ${key}`, 'Content-Type': 'application/json' }, body: body === undefined ? '' : JSON.stringify(body) });
  before(async () => {
    stub = await startKvStoreStub();
  });
  after(async () => {
    await stub.close();
  });

  it('insert answers its _key; a second insert of that _key fails with the documented body (and 409)', async () => {
    const first = await call('POST', '/c', { _key: 'k', v: 1 });
    assert.equal(first.status, 201);
    assert.deepEqual(JSON.parse(first.text), { _key: 'k' });
    const made = await call('POST', '/c', { v: 2 });
    assert.match(JSON.parse(made.text)._key, /^\w+$/, 'a key is made when none is given');
    const dup = await call('POST', '/c', { _key: 'k', v: 3 });
    assert.equal(dup.status, 409);
    assert.deepEqual(JSON.parse(dup.text), { messages: [{ type: 'ERROR', text: DUPLICATE_TEXT }] });
  });

  it('POST to /<_key> replaces the whole document; GET and DELETE act on one; a missing one is 404', async () => {
    await call('POST', '/r', { _key: 'k', a: 1, b: 2 });
    assert.equal((await call('POST', '/r/k', { a: 5 })).status, 200);
    const doc = JSON.parse((await call('GET', '/r/k')).text);
    assert.equal(doc.a, 5);
    assert.ok(!('b' in doc));
    assert.equal((await call('DELETE', '/r/k')).status, 200);
    const gone = await call('GET', '/r/k');
    assert.equal(gone.status, 404);
    assert.equal(JSON.parse(gone.text).messages[0].text, NOT_FOUND_TEXT);
  });

  it('batch_save upserts by _key and refuses more than max_documents_per_batch_save (default 50000)', async () => {
    await call('POST', '/b', { _key: 'x', v: 'old' });
    const saved = await call('POST', '/b/batch_save', [{ _key: 'x', v: 'new' }, { _key: 'y', v: 1 }]);
    assert.deepEqual(JSON.parse(saved.text), ['x', 'y']);
    assert.equal(stub.docs('b').find((d) => d._key === 'x')!.v, 'new');
    assert.equal(stub.limits.maxDocumentsPerBatchSave, 50_000);
    assert.equal(stub.limits.maxQueriesPerBatch, 1000);
    assert.equal(stub.limits.maxRowsPerQuery, 50_000);
    const over = await call('POST', '/b/batch_save', Array.from({ length: 50_001 }, (_, i) => ({ _key: `n${i}` })));
    assert.equal(over.status, 400);
    assert.equal(stub.docs('b').length, 2, 'an over-limit batch writes nothing');
  });

  it('query takes the listed operators only; fields and sort read as in the reference examples', async () => {
    await call('POST', '/q/batch_save', [
      { _key: '1', firstname: 'a', surname: 'z', price: 4, address: 'x' },
      { _key: '2', firstname: 'b', surname: 'z', price: 6, address: 'y' },
      { _key: '3', firstname: 'c', surname: 'm', price: 9, address: 'w' },
    ]);
    const get = async (qs: string) => JSON.parse((await call('GET', `/q?${qs}`)).text);
    assert.deepEqual((await get(`query=${encodeURIComponent('{"price":{"$gt":5}}')}`)).map((d: KvDocument) => d._key), ['2', '3']);
    assert.deepEqual(Object.keys((await get('fields=firstname,surname&limit=1'))[0]).sort(), ['_key', 'firstname', 'surname']);
    assert.deepEqual(Object.keys((await get('fields=firstname,surname,_key:0&limit=1'))[0]).sort(), ['firstname', 'surname']);
    assert.ok(!('address' in (await get('fields=address:0&limit=1'))[0]));
    assert.deepEqual((await get('sort=surname:-1,firstname:1')).map((d: KvDocument) => d._key), ['1', '2', '3']);
    assert.deepEqual((await get('sort=surname,firstname:-1')).map((d: KvDocument) => d._key), ['3', '2', '1']);
    const unlisted = await call('GET', `/q?query=${encodeURIComponent('{"price":{"$in":[4]}}')}`);
    assert.equal(unlisted.status, 400);
    const del = await call('DELETE', `/q?query=${encodeURIComponent('{"surname":"z"}')}`);
    assert.equal(del.status, 200);
    assert.deepEqual(stub.docs('q').map((d) => d._key), ['3']);
  });

  it('batch_find answers one list per query', async () => {
    await call('POST', '/f/batch_save', [{ _key: '1', n: 1 }, { _key: '2', n: 2 }]);
    const r = await call('POST', '/f/batch_find', [{ query: { n: 1 } }, { query: { n: { $gte: 1 } }, sort: 'n:-1', limit: 1 }]);
    assert.deepEqual(JSON.parse(r.text).map((l: KvDocument[]) => l.map((d) => d._key)), [['1'], ['2']]);
  });

  it('401 for a wrong session key, nothing read or written; read-only keeps reads and refuses writes', async () => {
    const denied = await call('POST', '/a', { _key: 'k' }, 'wrong');
    assert.equal(denied.status, 401);
    assert.equal(stub.docs('a').length, 0);
    await call('POST', '/a', { _key: 'k' });
    stub.readOnly = true;
    try {
      assert.equal((await call('GET', '/a/k')).status, 200);
      assert.notEqual((await call('POST', '/a', { _key: 'j' })).status, 201);
      assert.notEqual((await call('POST', '/a/batch_save', [{ _key: 'j' }])).status, 200);
      assert.equal((await call('POST', '/a/batch_find', [{}])).status, 200, 'batch_find is a read');
      assert.equal(stub.docs('a').length, 1);
    } finally {
      stub.readOnly = false;
    }
    stub.unavailable = true;
    try {
      assert.equal((await call('GET', '/a/k')).status, 503);
    } finally {
      stub.unavailable = false;
    }
  });
});
