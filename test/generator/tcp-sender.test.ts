import assert from 'node:assert/strict';
import * as net from 'node:net';
import { Writable } from 'node:stream';
import { renderLines } from '../../src/generator/line-source';
import { createStreamSink } from '../../src/generator/stream-sink';
import { createTcpSender, describeTarget, type ReconnectPolicy } from '../../src/generator/tcp-sender';
import { startLoopbackSink, unusedPort } from './loopback-sink';

const FAST: ReconnectPolicy = { initialDelayMs: 10, maxDelayMs: 40, maxAttempts: 5, connectTimeoutMs: 1_000 };
const realConnect = (host: string, port: number): net.Socket => net.createConnection({ host, port });

/** ~21 MB of real generated lines: more than loopback socket buffers hold, so a write to a peer that does not read cannot complete. */
const BIG_LINES = 200_000;
let bigText: string | null = null;
function bigBatch(): { text: string; lines: number } {
  bigText ??= renderLines({ scenario: 'fast-bruteforce', format: 'kv', seed: 'big', startMs: Date.UTC(2024, 0, 1), addressFamily: 'any' }, BIG_LINES);
  return { text: bigText, lines: BIG_LINES };
}

describe('tcp sender delivery accounting', function () {
  this.timeout(20_000);

  it('rewrites a batch whose write never completed on the next connection, once', async () => {
    const sink = await startLoopbackSink({ stallConnections: [1], stallMs: 150 });
    try {
      const sender = createTcpSender({ host: sink.host, port: sink.port, reconnect: FAST, maxWritesPerBatch: 3 }, { connect: realConnect });
      await sender.whenReady();
      sender.send(bigBatch());
      await sender.finish();
      await sink.waitForLines(BIG_LINES, 10_000);
      const counts = sender.counts();
      assert.equal(counts.sent, BIG_LINES);
      assert.equal(counts.failed, 0);
      assert.equal(counts.reconnects, 1);
      assert.equal(sink.connections(), 2);
      assert.equal(sink.lineCount(), BIG_LINES, 'the stalled connection delivered nothing, the retry everything');
      assert.equal(sender.failure(), null);
    } finally {
      await sink.close();
    }
  });

  it('counts the batch failed once it has been written maxWritesPerBatch times', async () => {
    const sink = await startLoopbackSink({ stallConnections: [1, 2], stallMs: 100 });
    try {
      const sender = createTcpSender({ host: sink.host, port: sink.port, reconnect: FAST, maxWritesPerBatch: 2 }, { connect: realConnect });
      await sender.whenReady();
      sender.send(bigBatch());
      await sender.finish();
      const counts = sender.counts();
      assert.equal(counts.sent, 0);
      assert.equal(counts.failed, BIG_LINES);
      assert.equal(counts.reconnects, 1, 'written on connections 1 and 2, then given up; the sender reconnected once');
      assert.equal(sink.lineCount(), 0);
      assert.equal(sender.failure(), null, 'a dropped batch is not a connection failure');
    } finally {
      await sink.close();
    }
  });

  it('backs off exponentially between connection attempts and gives up with connect-failed', async () => {
    const port = await unusedPort();
    const attempts: number[] = [];
    const policy: ReconnectPolicy = { initialDelayMs: 20, maxDelayMs: 80, maxAttempts: 5, connectTimeoutMs: 1_000 };
    const sender = createTcpSender(
      { host: '127.0.0.1', port, reconnect: policy, maxWritesPerBatch: 3 },
      { connect: (h, p) => (attempts.push(performance.now()), realConnect(h, p)) },
    );
    sender.send({ text: 'a\nb\nc\n', lines: 3 });
    await sender.whenReady();
    await sender.finish();
    assert.equal(attempts.length, 5);
    const gaps = attempts.slice(1).map((t, i) => t - (attempts[i] as number));
    const wanted = [20, 40, 80, 80];
    gaps.forEach((gap, i) => {
      const w = wanted[i] as number;
      assert.ok(gap >= w - 2 && gap < w + 150, `gap ${i + 1}: ${gap.toFixed(1)} ms, wanted about ${w}`);
    });
    assert.equal(sender.failure()?.kind, 'connect-failed');
    assert.match(sender.failure()?.message ?? '', new RegExp(`could not connect to 127\\.0\\.0\\.1:${port} after 5 attempts \\(last error: connect ECONNREFUSED`));
    assert.deepEqual({ ...sender.counts(), connected: false }, { sent: 0, failed: 3, reconnects: 0, connected: false });
    sender.send({ text: 'd\n', lines: 1 });
    assert.equal(sender.counts().failed, 4, 'after giving up, new lines count failed at once');
  });

  it('times out a connection attempt that never answers', async () => {
    const sender = createTcpSender(
      { host: '127.0.0.1', port: 9, reconnect: { initialDelayMs: 5, maxDelayMs: 5, maxAttempts: 2, connectTimeoutMs: 30 }, maxWritesPerBatch: 3 },
      // a socket that is never told to connect stands in for a SYN that is never answered
      { connect: () => new net.Socket() },
    );
    const began = performance.now();
    await sender.whenReady();
    assert.equal(sender.failure()?.kind, 'connect-failed');
    assert.match(sender.failure()?.message ?? '', /after 2 attempts \(last error: no answer within 30 ms\)/);
    assert.ok(performance.now() - began < 1_000);
  });

  it('abandon while disconnected fails what is queued and stops reconnecting', async () => {
    const port = await unusedPort();
    let attempts = 0;
    const sender = createTcpSender(
      { host: '127.0.0.1', port, reconnect: { initialDelayMs: 30, maxDelayMs: 30, maxAttempts: 100, connectTimeoutMs: 1_000 }, maxWritesPerBatch: 3 },
      { connect: (h, p) => (attempts++, realConnect(h, p)) },
    );
    sender.send({ text: 'x\ny\n', lines: 2 });
    await new Promise((r) => setTimeout(r, 50));
    sender.abandon('stopped by the user');
    await sender.finish();
    const seen = attempts;
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(attempts, seen, 'no connection attempts after abandon');
    assert.equal(sender.failure()?.kind, 'aborted');
    assert.match(sender.failure()?.message ?? '', /stopped by the user: not connected to 127\.0\.0\.1:\d+, queued events were not sent/);
    assert.equal(sender.counts().failed, 2);
  });

  it('abandon with nothing queued just stops, without a failure', async () => {
    const port = await unusedPort();
    const sender = createTcpSender(
      { host: '127.0.0.1', port, reconnect: { initialDelayMs: 30, maxDelayMs: 30, maxAttempts: 100, connectTimeoutMs: 1_000 }, maxWritesPerBatch: 3 },
      { connect: realConnect },
    );
    await new Promise((r) => setTimeout(r, 40));
    sender.abandon('stopped');
    await sender.whenReady();
    await sender.finish();
    assert.equal(sender.failure(), null);
    assert.deepEqual(sender.counts(), { sent: 0, failed: 0, reconnects: 0, connected: false });
  });

  it('names IPv6 targets with brackets', () => {
    assert.equal(describeTarget('::1', 1514), '[::1]:1514');
    assert.equal(describeTarget('splunk.example', 1514), 'splunk.example:1514');
  });
});

describe('stream sink', () => {
  it('counts writes that fail as failed and stops with output-failed', async () => {
    let writes = 0;
    const stream = new Writable({
      write(_chunk, _enc, cb) {
        writes++;
        if (writes === 3) cb(new Error('EIO: disk went away'));
        else cb();
      },
    });
    const sink = createStreamSink(stream, { label: 'file /tmp/x', endWhenDone: true });
    for (let i = 0; i < 5; i++) {
      await sink.whenReady();
      sink.send({ text: 'l\nl\n', lines: 2 });
      await new Promise((r) => setImmediate(r));
    }
    await sink.finish();
    assert.equal(sink.failure()?.kind, 'output-failed');
    assert.match(sink.failure()?.message ?? '', /could not write to file \/tmp\/x: EIO: disk went away/);
    const counts = sink.counts();
    assert.equal(counts.sent, 4);
    assert.equal(counts.failed, 6);
    assert.equal(counts.sent + counts.failed, 10);
  });
});
