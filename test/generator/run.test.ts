import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Writable } from 'node:stream';
import ipaddr from 'ipaddr.js';
import { FORMAT_NAMES } from '../../src/generator/formats';
import { renderLines, type LineSpec } from '../../src/generator/line-source';
import { nodeGeneratorDeps, runGenerator, type GeneratorOptions, type GeneratorProgress, type GeneratorSummary } from '../../src/generator/run';
import { SCENARIO_NAMES } from '../../src/generator/scenarios';
import { startLoopbackSink, unusedPort, type LoopbackSink } from './loopback-sink';

const START = Date.UTC(2024, 4, 1, 12, 0, 0);

/** A backfill from START, as fast as the target takes it: its text is renderLines() of the same spec. */
function options(sink: { host: string; port: number }, extra: Partial<GeneratorOptions> = {}): GeneratorOptions {
  return { scenario: 'fast-bruteforce', format: 'kv', seed: 'run-test', mode: 'backfill', startMs: START, count: 100, host: sink.host, port: sink.port, ...extra };
}

/** Live at a fixed rate (0 = unthrottled), each line stamped when written. */
function liveOptions(sink: { host: string; port: number }, rate: number, extra: Partial<GeneratorOptions> = {}): GeneratorOptions {
  return { ...options(sink, extra), mode: 'live', startMs: undefined, rate };
}

function specOf(o: GeneratorOptions): LineSpec {
  return { scenario: o.scenario as LineSpec['scenario'], format: o.format as LineSpec['format'], seed: o.seed, startMs: o.startMs as number, addressFamily: (o.addressFamily ?? 'ipv4') as LineSpec['addressFamily'] };
}

/** kv lines without their leading `YYYY-MM-DD HH:MM:SS ` (live lines carry the moment they were sent) */
const unstamped = (text: string): string => text.replace(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d /gm, '');

async function run(o: GeneratorOptions, extra: Parameters<typeof nodeGeneratorDeps>[0] = {}): Promise<GeneratorSummary> {
  const result = await runGenerator(o, nodeGeneratorDeps(extra));
  if (!result.ok) assert.fail(`runGenerator failed: ${result.error.kind}: ${result.error.message}`);
  return result.value;
}

/** A Writable that keeps what it is given, optionally slowly (to exercise 'drain'). */
function collector(delayMs = 0, highWaterMark = 16 * 1024): { stream: Writable; text: () => string } {
  const chunks: string[] = [];
  const stream = new Writable({
    highWaterMark,
    decodeStrings: false,
    write(chunk: string | Buffer, _enc, cb) {
      chunks.push(chunk.toString());
      if (delayMs > 0) setTimeout(cb, delayMs);
      else cb();
    },
  });
  return { stream, text: () => chunks.join('') };
}

describe('generator run over a loopback TCP sink', function () {
  this.timeout(20_000);
  let sink: LoopbackSink | null = null;
  afterEach(async () => {
    if (sink !== null) await sink.close();
    sink = null;
  });

  it('sends exactly `count` lines for every scenario and format, byte-identical to the pure line source', async () => {
    const count = 357;
    for (const scenario of SCENARIO_NAMES) {
      for (const format of FORMAT_NAMES) {
        sink = await startLoopbackSink();
        const o = options(sink, { scenario, format, count, batchLines: 64 });
        const summary = await run(o);
        await sink.waitForLines(count, 5_000);
        assert.equal(summary.sent, count, `${scenario}/${format} sent`);
        assert.equal(summary.failed, 0);
        assert.equal(summary.reconnects, 0);
        assert.equal(summary.stopReason, 'count-reached');
        assert.equal(summary.error, null);
        assert.equal(sink.lineCount(), count, `${scenario}/${format} received`);
        assert.equal(sink.connections(), 1, 'one persistent connection');
        assert.equal(sink.text(), renderLines(specOf(o), count));
        await sink.close();
        sink = null;
      }
    }
  });

  it('gives identical bytes for the same seed whatever the batching or pace, and different bytes for another seed', async () => {
    sink = await startLoopbackSink();
    const base = options(sink, { scenario: 'distributed', format: 'sshd', count: 800, seed: 424242 });
    await run({ ...base, batchLines: 1000 });
    await sink.waitForLines(800, 5_000);
    const first = sink.text();
    await sink.close();

    sink = await startLoopbackSink();
    await run({ ...base, host: sink.host, port: sink.port, batchLines: 7 });
    await sink.waitForLines(800, 5_000);
    assert.equal(sink.text(), first);
    await sink.close();

    // sent live at a fixed rate: the same events, stamped with the moment they were sent
    sink = await startLoopbackSink();
    await run(liveOptions(sink, 20_000, { scenario: 'distributed', format: 'sshd', count: 800, seed: 424242, batchLines: 7 }));
    await sink.waitForLines(800, 5_000);
    const body = (text: string) => text.replace(/^[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d /gm, '');
    assert.equal(body(sink.text()), body(first));
    assert.notEqual(sink.text(), first);
    await sink.close();

    sink = await startLoopbackSink();
    await run({ ...base, host: sink.host, port: sink.port, seed: 424243 });
    await sink.waitForLines(800, 5_000);
    assert.notEqual(sink.text(), first);
    assert.equal(sink.lineCount(), 800);
  });

  it('reconnects after the sink destroys the connection after N lines; unthrottled, 32 KiB writes', async () => {
    sink = await startLoopbackSink({ destroyAfterLines: 20_000, misbehaveTimes: 3 });
    const o = options(sink, { count: 100_000, reconnect: { initialDelayMs: 10, maxDelayMs: 50 } });
    const summary = await run(o);
    await sink.waitForLines(summary.sent, 5_000);
    assert.equal(summary.sent, 100_000);
    assert.equal(summary.failed, 0);
    assert.equal(summary.reconnects, 3);
    assert.equal(sink.lineCount(), summary.sent);
    assert.equal(sink.text(), renderLines(specOf(o), 100_000));
  });

  it('a sink that half-closes after N lines but keeps reading loses nothing (it may see a retried batch twice)', async () => {
    sink = await startLoopbackSink({ endAfterLines: 300, misbehaveTimes: 2 });
    const o = options(sink, { count: 2_000, batchLines: 50, reconnect: { initialDelayMs: 10, maxDelayMs: 50 } });
    const summary = await run(o);
    await sink.waitForLines(2_000, 5_000);
    assert.equal(summary.failed, 0);
    assert.equal(summary.sent, 2_000);
    assert.equal(summary.reconnects, 2);
    assert.equal(sink.connections(), 3);
    const received = sink.lines();
    const expected = renderLines(specOf(o), 2_000).split('\n').slice(0, -1);
    let matched = 0;
    for (const line of received) if (matched < expected.length && line === expected[matched]) matched++;
    assert.equal(matched, expected.length, 'every line arrived, in order');
    assert.ok(received.length - 2_000 <= 2 * 4 * 50, `${received.length - 2_000} repeated lines`);
  });

  it('reconnects after the sink destroys the connection after N lines; received == sent, failed == 0', async () => {
    sink = await startLoopbackSink({ destroyAfterLines: 250, misbehaveTimes: 2 });
    const o = liveOptions(sink, 2_000, { count: 1_500, reconnect: { initialDelayMs: 10, maxDelayMs: 50 } });
    const summary = await run(o);
    await sink.waitForLines(summary.sent, 5_000);
    assert.equal(summary.failed, 0);
    assert.equal(summary.sent, 1_500);
    assert.equal(summary.reconnects, 2);
    assert.equal(sink.connections(), 3);
    assert.equal(sink.lineCount(), summary.sent);
    assert.equal(unstamped(sink.text()), unstamped(renderLines({ ...specOf(o), startMs: START }, 1_500)));
  });

  it('rides out the input going away and coming back on the same port', async () => {
    sink = await startLoopbackSink();
    const live = sink;
    const o = liveOptions(sink, 5_000, { count: 3_000, reconnect: { initialDelayMs: 20, maxDelayMs: 80, maxAttempts: 30 } });
    const running = run(o);
    while (live.lineCount() < 500) await new Promise((r) => setTimeout(r, 2));
    await live.stop();
    await new Promise((r) => setTimeout(r, 300));
    await live.restart();
    const summary = await running;
    await live.waitForLines(summary.sent, 5_000);
    assert.equal(summary.sent, 3_000);
    assert.equal(summary.failed, 0);
    assert.ok(summary.reconnects >= 1, `reconnects ${summary.reconnects}`);
    assert.equal(live.lineCount(), summary.sent);
  });

  it('counts the rest as failed, in bounded time, when the sink never comes back', async () => {
    sink = await startLoopbackSink();
    const live = sink;
    const o = liveOptions(sink, 4_000, { count: 5_000, reconnect: { initialDelayMs: 10, maxDelayMs: 40, maxAttempts: 4 } });
    const began = performance.now();
    const running = run(o);
    while (live.lineCount() < 400) await new Promise((r) => setTimeout(r, 2));
    await live.stop();
    const summary = await running;
    const tookMs = performance.now() - began;
    assert.equal(summary.stopReason, 'connection-lost');
    assert.equal(summary.error?.kind, 'connection-lost');
    assert.match(summary.error?.message ?? '', /could not reconnect after 4 attempts/);
    assert.equal(summary.sent + summary.failed, 5_000, 'every event of the count is accounted for');
    assert.ok(summary.failed > 0 && summary.sent >= 400, `sent ${summary.sent} failed ${summary.failed}`);
    assert.ok(live.lineCount() <= summary.sent);
    assert.ok(tookMs < 3_000, `gave up after ${tookMs} ms`);
    sink = null; // already stopped
  });

  it('fails every event with connect-failed when nothing listens', async () => {
    const port = await unusedPort();
    const summary = await run({ ...options({ host: '127.0.0.1', port }), count: 250, reconnect: { initialDelayMs: 5, maxDelayMs: 20, maxAttempts: 3 } });
    assert.equal(summary.sent, 0);
    assert.equal(summary.failed, 250);
    assert.equal(summary.stopReason, 'connection-lost');
    assert.equal(summary.error?.kind, 'connect-failed');
    assert.match(summary.error?.message ?? '', new RegExp(`127\\.0\\.0\\.1:${port} after 3 attempts.*ECONNREFUSED`));
  });

  it('holds the asked rate within 5 % (500 events/s for 2 s)', async () => {
    sink = await startLoopbackSink();
    const summary = await run(liveOptions(sink, 500, { count: 1_000 }));
    await sink.waitForLines(1_000, 5_000);
    assert.equal(summary.sent, 1_000);
    assert.ok(Math.abs(summary.ratePerSec - 500) <= 25, `summary rate ${summary.ratePerSec.toFixed(1)}/s`);
    const { first, last } = sink.arrivals();
    const observed = (1_000 - 1) / ((last - first) / 1000);
    assert.ok(Math.abs(observed - 500) <= 25, `rate seen by the sink ${observed.toFixed(1)}/s`);
  });

  it('stops at the duration, with the rate holding', async () => {
    sink = await startLoopbackSink();
    const summary = await run({ ...liveOptions(sink, 1_000, { durationMs: 600 }), count: undefined });
    await sink.waitForLines(summary.sent, 5_000);
    assert.equal(summary.stopReason, 'duration-elapsed');
    assert.ok(Math.abs(summary.sent - 600) <= 30, `sent ${summary.sent} in 600 ms at 1000/s`);
    assert.equal(sink.lineCount(), summary.sent);
  });

  it('runs unthrottled for a duration and reports a rate', async () => {
    sink = await startLoopbackSink();
    const summary = await run({ ...liveOptions(sink, 0, { durationMs: 300 }), count: undefined });
    await sink.waitForLines(summary.sent, 5_000);
    assert.equal(summary.stopReason, 'duration-elapsed');
    assert.ok(summary.elapsedMs >= 300 && summary.elapsedMs < 2_000, `elapsed ${summary.elapsedMs}`);
    assert.ok(summary.sent > 1_000, `sent ${summary.sent}`);
    assert.equal(sink.lineCount(), summary.sent);
    assert.ok(Math.abs(summary.ratePerSec - (summary.sent * 1000) / summary.elapsedMs) < 1e-6);
  });

  it('sends IPv6 source addresses, and can talk to an IPv6 loopback input', async () => {
    sink = await startLoopbackSink({}, '::1');
    const summary = await run(options(sink, { scenario: 'distributed', format: 'sshd', addressFamily: 'ipv6', count: 400 }));
    await sink.waitForLines(400, 5_000);
    assert.equal(summary.target, `tcp [::1]:${sink.port}`);
    const sources = new Set<string>();
    for (const line of sink.lines()) {
      const m = / from (\S+) port \d+ ssh2$/.exec(line);
      if (m !== null) sources.add(m[1] as string);
    }
    assert.ok(sources.size >= 10, `${sources.size} distinct sources`);
    const network = ipaddr.parseCIDR('2001:db8::/32');
    for (const s of sources) {
      const addr = ipaddr.parse(s);
      assert.equal(addr.kind(), 'ipv6', s);
      assert.ok(addr.match(network), `${s} in 2001:db8::/32`);
    }
  });

  it('reports progress while running and once at the end', async () => {
    sink = await startLoopbackSink();
    const seen: GeneratorProgress[] = [];
    const summary = await run(liveOptions(sink, 2_000, { count: 600, progressIntervalMs: 50 }), { onProgress: (p) => seen.push(p) });
    assert.ok(seen.length >= 4, `${seen.length} progress calls`);
    for (let i = 1; i < seen.length; i++) assert.ok((seen[i] as GeneratorProgress).sent >= (seen[i - 1] as GeneratorProgress).sent);
    const final = seen[seen.length - 1] as GeneratorProgress;
    assert.equal(final.sent, summary.sent);
    assert.equal(final.total, 600);
    assert.equal(final.generated, 600);
  });

  it('stops when aborted and still delivers what it generated', async () => {
    sink = await startLoopbackSink();
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 250);
    const summary = await run({ ...liveOptions(sink, 1_000), count: undefined }, { signal: controller.signal });
    await sink.waitForLines(summary.sent, 5_000);
    assert.equal(summary.stopReason, 'aborted');
    assert.equal(summary.failed, 0);
    assert.equal(summary.sent, summary.generated);
    assert.ok(summary.sent > 100 && summary.sent < 400, `sent ${summary.sent}`);
    assert.equal(sink.lineCount(), summary.sent);
  });

  it('abort while the input is down stops at once instead of waiting for the next reconnect', async () => {
    const port = await unusedPort();
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 100);
    const began = performance.now();
    const summary = await run(
      { ...options({ host: '127.0.0.1', port }), count: 50, reconnect: { initialDelayMs: 1_000, maxDelayMs: 1_000, maxAttempts: 10 } },
      { signal: controller.signal },
    );
    assert.equal(summary.stopReason, 'aborted');
    assert.equal(summary.sent, 0);
    assert.equal(summary.generated, 0, 'nothing is generated before the input takes data');
    assert.equal(summary.failed, 0);
    assert.equal(summary.error, null);
    assert.ok(performance.now() - began < 900, 'did not wait for the next reconnect');
  });
});

describe('generator run to a stream or a file', function () {
  this.timeout(10_000);

  it('dry run writes the lines to the given Writable, honouring backpressure', async () => {
    const out = collector(1, 256);
    const o = options({ host: 'unused.invalid', port: 1 }, { scenario: 'password-spray', format: 'win4625', count: 300, batchLines: 10, dryRun: true });
    const summary = await run(o, { dryRunOutput: out.stream });
    assert.equal(summary.target, 'dry-run output');
    assert.equal(summary.sent, 300);
    assert.equal(summary.failed, 0);
    assert.equal(out.text(), renderLines(specOf(o), 300));
  });

  it('--out writes the lines to a file', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'soar-gen-'));
    const file = path.join(dir, 'events.log');
    const o = options({ host: 'unused.invalid', port: 1 }, { scenario: 'benign', format: 'sshd', count: 1_234, outFile: file });
    const summary = await run(o);
    assert.equal(summary.sent, 1_234);
    assert.equal(summary.target, `file ${file}`);
    assert.equal(fs.readFileSync(file, 'utf8'), renderLines(specOf(o), 1_234));
    fs.rmSync(dir, { recursive: true });
  });

  it('an output file that cannot be opened ends the run with output-failed and every event failed', async () => {
    const file = path.join(os.tmpdir(), 'soar-gen-no-such-dir', String(process.pid), 'events.log');
    const summary = await run(options({ host: 'unused.invalid', port: 1 }, { count: 500, outFile: file }));
    assert.equal(summary.stopReason, 'output-failed');
    assert.equal(summary.error?.kind, 'output-failed');
    assert.match(summary.error?.message ?? '', /ENOENT/);
    assert.equal(summary.sent, 0);
    assert.equal(summary.failed, 500);
  });
});

describe('generator options', () => {
  const good = options({ host: '127.0.0.1', port: 1514 });
  const cases: Array<[string, Partial<GeneratorOptions>, RegExp]> = [
    ['unknown scenario', { scenario: 'nope' }, /unknown scenario 'nope'; choose one of: fast-bruteforce/],
    ['unknown format', { format: 'json' }, /unknown format 'json'; choose one of: kv, sshd, win4625/],
    ['unknown address family', { addressFamily: 'ipv5' }, /unknown address family 'ipv5'/],
    ['negative rate', { mode: 'live', startMs: undefined, rate: -1 }, /rate must be a number of events per second >= 0/],
    ['speed 0', { mode: 'live', startMs: undefined, speed: 0 }, /speed must be a number > 0 \(1 = the scenario's own pace/],
    ['negative speed', { mode: 'live', startMs: undefined, speed: -2 }, /speed must be a number > 0.*got -2/],
    ['speed not a number', { mode: 'live', startMs: undefined, speed: Number.NaN }, /speed must be a number > 0/],
    ['speed and rate', { mode: 'live', startMs: undefined, speed: 2, rate: 10 }, /own pace \(speed\) or a fixed rate, not both/],
    ['a start time when live', { mode: 'live' }, /a start or end time places a backfill/],
    ['an end time when live', { mode: 'live', startMs: undefined, endMs: START }, /a start or end time places a backfill/],
    ['unknown mode', { mode: 'replay' as 'live' }, /unknown mode 'replay'; choose live or backfill/],
    ['a rate in a backfill', { rate: 10 }, /a backfill writes as fast as the target takes them: speed, rate and duration are for live sending/],
    ['a speed in a backfill', { speed: 60 }, /speed, rate and duration are for live sending/],
    ['a duration in a backfill', { durationMs: 1_000 }, /speed, rate and duration are for live sending/],
    ['an end in the future', { endMs: Date.now() + 365 * 86_400_000 }, /the end time \S+ is in the future \(now is \S+\): a backfill writes history, up to now at the latest/],
    ['a start after the end', { startMs: START + 1, endMs: START }, /the start time 2024-05-01T12:00:00\.001Z is after the end time 2024-05-01T12:00:00Z/],
    ['a backfill without start or count', { startMs: undefined, count: undefined }, /a backfill without a start time needs a count/],
    ['fractional count', { count: 2.5 }, /count must be a whole number >= 0, got 2.5/],
    ['zero duration', { durationMs: 0 }, /duration must be a positive number/],
    ['no count, no duration', { mode: 'live', startMs: undefined, count: undefined }, /give a count or a duration/],
    ['empty seed', { seed: '' }, /seed must be a non-empty text/],
    ['bad start time', { startMs: Number.NaN }, /start time must be a finite/],
    ['bad end time', { endMs: Number.NaN }, /end time must be a finite/],
    ['port out of range', { port: 70_000 }, /port must be a whole number from 1 to 65535, got 70000/],
    ['empty host', { host: '' }, /host must be a non-empty/],
    ['both outputs', { dryRun: true, outFile: '/tmp/x' }, /choose one output/],
    ['batch size 0', { batchLines: 0 }, /batch size must be a whole number >= 1/],
    ['batch characters 0', { batchChars: 0 }, /batch characters must be a whole number >= 1/],
    ['reconnect max below initial', { reconnect: { initialDelayMs: 100, maxDelayMs: 10 } }, /reconnect delays/],
    ['reconnect attempts 0', { reconnect: { maxAttempts: 0 } }, /reconnect attempts must be a whole number >= 1/],
    ['writes per batch 0', { maxWritesPerBatch: 0 }, /writes per batch must be a whole number >= 1/],
    ['empty output file', { outFile: '' }, /output file path is empty/],
  ];
  for (const [name, change, message] of cases) {
    it(`rejects ${name}`, async () => {
      const result = await runGenerator({ ...good, ...change }, nodeGeneratorDeps());
      assert.equal(result.ok, false);
      if (!result.ok) {
        assert.equal(result.error.kind, 'invalid-option');
        assert.match(result.error.message, message);
      }
    });
  }

  it('rejects a dry run without an output stream', async () => {
    const result = await runGenerator({ ...good, dryRun: true }, nodeGeneratorDeps());
    assert.equal(result.ok, false);
    if (!result.ok) assert.match(result.error.message, /a dry run needs an output stream/);
  });
});
