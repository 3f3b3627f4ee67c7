/**
 * Generator throughput (issue 4, Speed): the built CLI `node dist/cli/soar-edr.cjs generate
 * --rate 0` sends over one TCP connection to a loopback sink in this process that counts
 * newline-framed events and bytes; in the same run, interleaved, the seed's Python generator
 * (seed000_generator.py in SOAR_BASELINES_DIR, when given: a new TCP connection per event, its sleeps removed)
 * sends to the same sink. events/s = events the sink counted ÷ wall time from spawning the
 * generator until it exited and the sink had every event (process start-up included for both);
 * median of the runs. Every run must deliver exactly the events asked for.
 */
import { spawn } from 'node:child_process';
import { createServer, type Server, type Socket } from 'node:net';
import * as path from 'node:path';
import { REPO_ROOT } from '../test/support/paths';
import { baselineScript, skippedBaseline } from './child-measure';
import type { BenchLine } from './alert-action.bench';
import { median } from './stats';

const TARGET_EVENTS_PER_SEC = 100_000;
/** events per run: ours ~1 s at the target speed x5; the seed's ~1,000/s makes a few seconds */
const OUR_EVENTS = 500_000;
const SEED_EVENTS = 3_000;
const NEWLINE = 0x0a;

interface CountingSink {
  readonly port: number;
  counts(): { events: number; bytes: number; connections: number };
  reset(): void;
  /** resolves once `events` newlines arrived and no connection is open, rejects after `timeoutMs` */
  whenDelivered(events: number, timeoutMs: number): Promise<void>;
  close(): Promise<void>;
}

async function startCountingSink(): Promise<CountingSink> {
  let events = 0;
  let bytes = 0;
  let connections = 0;
  const open = new Set<Socket>();
  const server: Server = createServer((socket) => {
    connections++;
    open.add(socket);
    socket.on('data', (chunk: Buffer) => {
      bytes += chunk.length;
      for (let i = chunk.indexOf(NEWLINE); i !== -1; i = chunk.indexOf(NEWLINE, i + 1)) events++;
    });
    socket.on('error', () => undefined);
    socket.on('close', () => open.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  return {
    port,
    counts: () => ({ events, bytes, connections }),
    reset() {
      events = 0;
      bytes = 0;
      connections = 0;
    },
    async whenDelivered(expected, timeoutMs) {
      const deadline = Date.now() + timeoutMs;
      while (events < expected || open.size > 0) {
        if (Date.now() > deadline) throw new Error(`sink got ${events} of ${expected} events (${open.size} connections open) within ${timeoutMs} ms`);
        await new Promise((r) => setImmediate(r));
      }
    },
    close: () =>
      new Promise((resolve) => {
        for (const s of open) s.destroy();
        server.close(() => resolve());
      }),
  };
}

interface Measured {
  readonly eventsPerSec: number;
  readonly bytesPerSec: number;
  readonly connections: number;
}

/** One generator process to the sink: wall time until it exited and the sink had `expected` events. */
async function measure(sink: CountingSink, cmd: string, args: readonly string[], expected: number): Promise<Measured> {
  sink.reset();
  const started = process.hrtime.bigint();
  const { code, stderr } = await new Promise<{ code: number | null; stderr: string }>((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('error', reject);
    child.on('close', (c) => resolve({ code: c, stderr: err }));
  });
  if (code !== 0) throw new Error(`${path.basename(args[0] ?? cmd)} exited ${code}: ${stderr}`);
  await sink.whenDelivered(expected, 30_000);
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  const c = sink.counts();
  if (c.events !== expected) throw new Error(`${path.basename(args[0] ?? cmd)}: the sink counted ${c.events} events, expected exactly ${expected}`);
  return { eventsPerSec: c.events / seconds, bytesPerSec: c.bytes / seconds, connections: c.connections };
}

const rate = (n: number) => `${Math.round(n).toLocaleString('en-US')} events/s`;
const mbps = (n: number) => `${(n / 1e6).toFixed(1)} MB/s`;

export async function benchGenerator(runs: number): Promise<BenchLine[]> {
  const n = Math.max(3, Math.min(runs, 7));
  const cli = path.join(REPO_ROOT, 'dist', 'cli', 'soar-edr.cjs');
  const seed = baselineScript('seed000_generator.py');
  const sink = await startCountingSink();
  const ours = (scenario: string, format: string) => [cli, 'generate', '--host', '127.0.0.1', '--port', String(sink.port), '--rate', '0', '--count', String(OUR_EVENTS), '--seed', 'bench', '--scenario', scenario, '--format', format];
  const kv: Measured[] = [];
  const win: Measured[] = [];
  const py: Measured[] = [];
  try {
    // warm the page cache and the sink once, untimed
    await measure(sink, process.execPath, ours('classic-script', 'kv'), OUR_EVENTS);
    for (let i = 0; i < n; i++) {
      kv.push(await measure(sink, process.execPath, ours('classic-script', 'kv'), OUR_EVENTS));
      win.push(await measure(sink, process.execPath, ours('fast-bruteforce', 'win4625'), OUR_EVENTS));
      if (seed !== null) {
        const p = await measure(sink, 'python3', [seed, '127.0.0.1', String(sink.port), String(SEED_EVENTS)], SEED_EVENTS);
        if (p.connections !== SEED_EVENTS) throw new Error(`seed000_generator.py opened ${p.connections} connections for ${SEED_EVENTS} events`);
        py.push(p);
      }
    }
  } finally {
    await sink.close();
  }
  for (const m of [...kv, ...win]) if (m.connections !== 1) throw new Error(`soar-edr generate used ${m.connections} connections, expected 1`);
  const kvRate = median(kv.map((m) => m.eventsPerSec));
  const winRate = median(win.map((m) => m.eventsPerSec));
  const pyRate = py.length === 0 ? NaN : median(py.map((m) => m.eventsPerSec));
  const target = `>= ${rate(TARGET_EVENTS_PER_SEC)}, 1 connection`;
  return [
    {
      name: `generator: soar-edr generate --rate 0, kv (classic-script), ${OUR_EVENTS.toLocaleString('en-US')} events, median of ${n}`,
      value: `${rate(kvRate)} (${mbps(median(kv.map((m) => m.bytesPerSec)))})`,
      target,
      pass: kvRate >= TARGET_EVENTS_PER_SEC,
    },
    {
      name: `generator: soar-edr generate --rate 0, win4625 (fast-bruteforce), median of ${n}`,
      value: `${rate(winRate)} (${mbps(median(win.map((m) => m.bytesPerSec)))})`,
      target,
      pass: winRate >= TARGET_EVENTS_PER_SEC,
    },
    seed === null
      ? skippedBaseline('generator: the lab generator script (Python, a connection per event)', 'seed000_generator.py')
      : {
          name: `generator: the lab generator script (Python, a connection per event), ${SEED_EVENTS.toLocaleString('en-US')} events, median of ${n}`,
          value: `${rate(pyRate)}; ours (kv) ${(kvRate / pyRate).toFixed(0)}x faster`,
          target: 'side by side, same sink: ours faster',
          pass: kvRate > pyRate,
        },
  ];
}
