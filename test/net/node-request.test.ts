import assert from 'node:assert/strict';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { nodeRequest } from '../../src/net/node-request';
import { fetchStoredSecrets } from '../../src/splunk/secrets';

describe('net/node-request (loopback server)', () => {
  let server: http.Server;
  let url: string;
  let port: number;
  const held: http.ServerResponse[] = [];
  before(async () => {
    server = http.createServer((req, res) => {
      if (req.url === '/silent') {
        held.push(res);
        return;
      }
      if (req.url === '/big') {
        res.writeHead(200, { 'x-twice': ['a', 'b'] });
        res.end('x'.repeat(10_000));
        return;
      }
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString('utf8')));
      req.on('end', () => res.writeHead(201, { 'content-type': 'text/plain' }).end(`${req.method} ${req.headers['content-length']} ${body}`));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as AddressInfo).port;
    url = `http://127.0.0.1:${port}`;
  });
  after(async () => {
    for (const r of held) r.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  it('sends the body with its length and reads the whole answer with its status and headers', async () => {
    const r = await nodeRequest(`${url}/echo`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"é":1}' });
    assert.equal(r.status, 201);
    assert.equal(r.headers['content-type'], 'text/plain');
    assert.equal(r.text, 'POST 8 {"é":1}', 'content-length counts bytes, not characters');
  });

  it('keeps the first maxBodyBytes of the answer and reads the rest to its end', async () => {
    const r = await nodeRequest(`${url}/big`, { method: 'GET', headers: {}, body: '', maxBodyBytes: 100 });
    assert.equal(r.status, 200);
    assert.equal(r.text, 'x'.repeat(100));
  });

  it('gives up on a silent server after timeoutMs with ETIMEDOUT', async () => {
    const started = Date.now();
    await assert.rejects(nodeRequest(`${url}/silent`, { method: 'GET', headers: {}, body: '', timeoutMs: 150 }), (e: NodeJS.ErrnoException) => e.code === 'ETIMEDOUT');
    assert.ok(Date.now() - started < 2_000);
  });

  it('stops when its signal aborts', async () => {
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 100);
    await assert.rejects(nodeRequest(`${url}/silent`, { method: 'GET', headers: {}, body: '', signal: controller.signal }), (e: Error) => e.name === 'AbortError');
  });

  it('a refused connection rejects with ECONNREFUSED', async () => {
    const closed = http.createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const freePort = (closed.address() as AddressInfo).port;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    await assert.rejects(nodeRequest(`http://127.0.0.1:${freePort}/`, { method: 'GET', headers: {}, body: '' }), (e: NodeJS.ErrnoException) => e.code === 'ECONNREFUSED');
  });

  it('storage/passwords over it: a splunkd that never answers is a timeout failure, as with the SDK transport', async () => {
    // The SDK asks under /servicesNS/...; every path but /silent and /big answers, so point it at a silent server.
    const silent = http.createServer((_req, res) => held.push(res));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    try {
      const r = await fetchStoredSecrets({ scheme: 'http', host: '127.0.0.1', port: (silent.address() as AddressInfo).port, sessionKey: 'k', timeoutMs: 200 });
      assert.ok(!r.ok);
      assert.equal(r.error.kind, 'timeout');
    } finally {
      for (const h of held) h.destroy();
      await new Promise<void>((resolve) => silent.close(() => resolve()));
    }
  });
});
