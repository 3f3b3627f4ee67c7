/**
 * `soar-edr generate` from the built CLI bundle against a loopback TCP sink.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createServer, Server } from 'node:net';
import type { AddressInfo } from 'node:net';
import * as path from 'node:path';
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
    const dry = await run(['--count', '2', '--dry-run']);
    assert.equal(dry.code, 0);
    assert.match(dry.stderr, /repeat this run with --seed \d+/);
    for (const bad of [['--count', 'x'], ['--duration', 'soon'], ['--scenario', 'nope', '--dry-run']]) {
      const r = await run(bad);
      assert.equal(r.code, 2, `${bad.join(' ')}: ${r.stderr}`);
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
  });
});
