/**
 * `soar-edr generate` from the built CLI bundle against a loopback TCP sink.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import { createServer, Server } from 'node:net';
import type { AddressInfo } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { KNOWN_BAD_IPV4 } from '../../src/generator/addresses';
import { REPO_ROOT } from '../support/paths';

const CLI = path.join(REPO_ROOT, 'dist', 'cli', 'soar-edr.cjs');

function run(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const c = spawn(process.execPath, [CLI, 'generate', ...args], { env: { PATH: process.env.PATH ?? '' } });
    let stdout = '';
    let stderr = '';
    c.stdout.on('data', (d: Buffer) => (stdout += d));
    c.stderr.on('data', (d: Buffer) => (stderr += d));
    c.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

describe('soar-edr generate', function () {
  this.timeout(30_000);
  let server: Server;
  let received = '';
  before(async () => {
    server = createServer((socket) => socket.on('data', (d) => (received += d.toString('utf8'))));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  });
  after(() => new Promise<void>((resolve) => server.close(() => resolve())));
  const port = () => String((server.address() as AddressInfo).port);

  it('sends exactly --count events over TCP, the same bytes for the same --seed', async () => {
    received = '';
    const first = await run(['--count', '300', '--rate', '0', '--seed', 'lab-1', '--scenario', 'password-spray', '--format', 'sshd', '--host', '127.0.0.1', '--port', port()]);
    assert.equal(first.code, 0, first.stderr);
    assert.match(first.stderr, /300 sent, 0 failed/);
    await new Promise((r) => setTimeout(r, 200));
    const lines = received.split('\n').filter(Boolean);
    assert.equal(lines.length, 300);
    assert.ok(lines.every((l) => / sshd\[\d+\]: /.test(l)), 'sshd syslog lines');
    const dry = await run(['--count', '300', '--rate', '0', '--seed', 'lab-1', '--scenario', 'password-spray', '--format', 'sshd', '--dry-run']);
    assert.equal(dry.code, 0);
    // The dry run starts at its own clock: compare everything after the timestamp.
    const strip = (l: string) => l.replace(/^\S+ +\d+ [\d:]+ /, '');
    assert.deepEqual(dry.stdout.split('\n').filter(Boolean).map(strip), lines.map(strip));
  });

  it('prints a random seed when none is given, and refuses bad options (exit 2)', async () => {
    const dry = await run(['--count', '2', '--dry-run', '--speed', '100']);
    assert.equal(dry.code, 0);
    assert.match(dry.stderr, /repeat this run with --seed \d+/);
    const future = new Date(Date.now() + 3_600_000).toISOString();
    const refused: Array<[string[], RegExp]> = [
      [['--count', 'x'], /--count must be a whole number/],
      [['--duration', 'soon'], /--duration must look like 30s/],
      [['--scenario', 'nope', '--dry-run'], /unknown scenario 'nope'; choose one of: fast-bruteforce, .*classic-script/],
      [['--speed', '0', '--dry-run'], /--speed must be a number > 0/],
      [['--speed', '-2', '--dry-run'], /--speed must be a number > 0/],
      [['--speed', 'fast', '--dry-run'], /--speed must be a number > 0/],
      [['--speed', '2', '--rate', '5', '--dry-run'], /own pace \(speed\) or a fixed rate, not both/],
      [['--backfill', '--end', future, '--dry-run'], /the end time \S+ is in the future/],
      [['--backfill', '--end', '+1h', '--dry-run'], /--end: "\+1h" is not a time; use now, -30s/],
      [['--backfill', '--start', '2026-12-06T10:00:00', '--dry-run'], /has no zone: add Z for UTC or an offset/],
      [['--backfill', '--start', '-1h', '--end', '-2h', '--dry-run'], /the start time \S+ is after the end time/],
      [['--backfill', '--speed', '60', '--dry-run'], /speed, rate and duration are for live sending/],
      [['--start', '-4h', '--dry-run'], /--start and --end place a --backfill; add --backfill/],
    ];
    for (const [args, message] of refused) {
      const r = await run(args);
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, message, args.join(' '));
      assert.equal(r.stdout, '', `${args.join(' ')}: nothing sent`);
    }
  });

  it('counts events as failed when nothing listens (exit 1)', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const deadPort = String((closed.address() as AddressInfo).port);
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    const r = await run(['--count', '20', '--rate', '0', '--reconnects', '2', '--host', '127.0.0.1', '--port', deadPort]);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /0 sent, 20 failed/);
    assert.match(r.stderr, /is the TCP input listening there\?/);
    assert.match(r.stderr, /run `docker compose up -d`.*for another Splunk give its TCP input with --host and --port/);
  });

  it('says after 2 s without a connection what is probably missing, once, and keeps trying', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const deadPort = String((closed.address() as AddressInfo).port);
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    // 5 attempts, 0.2 + 0.4 + 0.8 + 1.6 s apart: about 3 s before giving up
    const r = await run(['--count', '5', '--reconnects', '5', '--host', '127.0.0.1', '--port', deadPort]);
    assert.equal(r.code, 1, r.stderr);
    const hint = `no connection to 127.0.0.1:${deadPort} yet, still trying (nothing listening? for this repository's Splunk: docker compose up -d)`;
    assert.equal(r.stderr.split(hint).length - 1, 1, r.stderr);
    assert.ok(r.stderr.indexOf(hint) < r.stderr.indexOf('0 sent, 5 failed'), 'before the run gives up');
  });

  describe('time', () => {
    let dir = '';
    beforeEach(() => {
      dir = fs.mkdtempSync(path.join(os.tmpdir(), 'soar-gen-cli-'));
    });
    afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

    const kvStamps = (text: string): number[] => [...text.matchAll(/^(\d{4}-\d\d-\d\d) (\d\d:\d\d:\d\d) /gm)].map((m) => Date.parse(`${m[1]}T${m[2]}Z`));
    const isoStamps = (text: string): number[] => text.split('\n').filter(Boolean).map((l) => Date.parse(l.slice(0, l.indexOf(' '))));

    it('--backfill with the same --seed and --start gives identical bytes (to files and stdout); another seed differs', async () => {
      const args = ['--backfill', '--start', '2025-06-01T08:00:00Z', '--count', '400', '--scenario', 'password-spray', '--format', 'sshd', '--seed', 'same'];
      const a = await run([...args, '--out', path.join(dir, 'a.log')]);
      const b = await run([...args, '--out', path.join(dir, 'b.log')]);
      const c = await run([...args, '--dry-run']);
      for (const r of [a, b, c]) assert.equal(r.code, 0, r.stderr);
      assert.match(a.stderr, /400 sent, 0 failed.*backfilled from 2025-06-01T08:00:00Z up to \S+Z/);
      const first = fs.readFileSync(path.join(dir, 'a.log'), 'utf8');
      assert.equal(first.split('\n').length - 1, 400);
      assert.match(first, /^Jun {2}1 08:00:00 bastion sshd\[\d+\]: /);
      assert.equal(fs.readFileSync(path.join(dir, 'b.log'), 'utf8'), first);
      assert.equal(c.stdout, first);
      const other = await run([...args.slice(0, -1), 'other', '--dry-run']);
      assert.notEqual(other.stdout, first);
    });

    it('--backfill --start -4h: the last 4 hours of slow-bruteforce, nothing later than now', async () => {
      const before = Date.now();
      const r = await run(['--backfill', '--start', '-4h', '--scenario', 'slow-bruteforce', '--format', 'kv', '--dry-run', '--seed', 'four-hours']);
      const after = Date.now();
      assert.equal(r.code, 0, r.stderr);
      const stamps = kvStamps(r.stdout);
      // one guess every 95-240 s, no --count: the scenario runs to the end
      assert.ok(stamps.length >= 60 && stamps.length <= 152, `${stamps.length} events`);
      assert.ok((stamps[0] as number) >= before - 4 * 3_600_000 - 1_000 && (stamps[0] as number) <= after - 4 * 3_600_000, 'starts 4 hours ago');
      assert.ok((stamps[stamps.length - 1] as number) <= after, 'nothing in the future');
      assert.ok((stamps[stamps.length - 1] as number) >= after - 4 * 3_600_000 / 50, 'runs up to about now');
    });

    it('--backfill --end: the last of --count events lands on the end; the seed-guide alias gives the classic-script events', async () => {
      const args = ['--backfill', '--end', '2025-12-06T10:00:00.250Z', '--count', '120', '--format', 'win4625', '--seed', 'classic', '--dry-run'];
      const classic = await run([...args, '--scenario', 'classic-script']);
      const alias = await run([...args, '--scenario', 'seed-guide']);
      assert.equal(classic.code, 0, classic.stderr);
      assert.equal(alias.stdout, classic.stdout);
      const stamps = isoStamps(classic.stdout);
      assert.equal(stamps.length, 120);
      assert.equal(stamps[119], Date.parse('2025-12-06T10:00:00.250Z'));
    });

    it('the default address family is ipv4: known-bad public addresses enrichment can find', async () => {
      const r = await run(['--backfill', '--count', '300', '--dry-run', '--seed', 'family']);
      assert.equal(r.code, 0, r.stderr);
      const known = new Set(KNOWN_BAD_IPV4.map((k) => k.ip));
      const sources = [...r.stdout.matchAll(/src_ip=(\S+)/g)].map((m) => m[1] as string);
      assert.equal(sources.length, 300);
      for (const ip of sources) assert.ok(known.has(ip), ip);
    });

    it('live --speed compresses the scenario: the stamps (send times) keep its gaps divided by the speed', async () => {
      const scenario = ['--scenario', 'slow-bruteforce', '--format', 'win4625', '--seed', 'speed', '--count', '5'];
      const history = await run([...scenario, '--backfill', '--end', '2025-12-06T10:00:00Z', '--dry-run']);
      const began = Date.now();
      const live = await run([...scenario, '--speed', '300', '--dry-run']);
      const ended = Date.now();
      assert.equal(live.code, 0, live.stderr);
      const want = isoStamps(history.stdout).map((t, _i, all) => (t - (all[0] as number)) / 300);
      const got = isoStamps(live.stdout).map((t, _i, all) => t - (all[0] as number));
      assert.equal(got.length, 5);
      // 95-240 s apart: 0.3-0.8 s apart at 300x, about 2 s in all
      assert.ok((want[4] as number) > 1_200, `scenario span ${want[4]} ms at 300x`);
      for (let i = 1; i < 5; i++) assert.ok(Math.abs((got[i] as number) - (want[i] as number)) <= 80, `event ${i}: sent ${got[i]} ms after the first, due ${(want[i] as number).toFixed(0)}`);
      for (const t of isoStamps(live.stdout)) assert.ok(t >= began && t <= ended, 'stamped while the run was on');
    });

    it('--help names the renamed scenario, the modes and the addresses that are never enriched', async () => {
      const r = await run(['--help']);
      assert.equal(r.code, 0);
      // commander wraps the description to the terminal: compare with the line breaks undone
      const text = r.stdout.replace(/\s+/g, ' ');
      assert.match(text, /classic-script \(the classic lab script: 4 fixed attacker addresses/);
      assert.doesNotMatch(text, /seed-guide|seed guide/);
      assert.match(text, /--backfill/);
      assert.match(text, /--speed <factor>/);
      assert.match(text, /distributed, benign, classic-script send documentation or private addresses whatever the family/);
      for (const line of r.stdout.split('\n')) assert.ok(line.length <= 100, `help line of ${line.length} characters: ${line}`);
    });
  });
});
