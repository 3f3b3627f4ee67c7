/**
 * bin/soar_response.sh as installed from the package: finding Node, refusing an old one,
 * passing argv and stdin through unchanged, and shellcheck-clean POSIX sh.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { parseLogLines } from '../support/splunk-log';
import { findActionScript, InstalledApp, installApp } from '../support/splunkd-emulator';

function which(tool: string): string {
  const found = spawnSync('sh', ['-c', `command -v ${tool}`], { encoding: 'utf8' }).stdout.trim();
  if (!found) throw new Error(`${tool} not found on PATH`);
  return found;
}

/** A PATH with no node on it (the launcher needs no other tool), made inside `under`. */
function pathWithoutNode(under: string): string {
  const dir = path.join(under, 'path-without-node');
  mkdirSync(dir);
  for (const tool of ['true']) symlinkSync(which(tool), path.join(dir, tool));
  return dir;
}

function fakeNode(dir: string, name: string, script: string): string {
  const p = path.join(dir, name);
  writeFileSync(p, `#!/bin/sh\n${script}\n`);
  chmodSync(p, 0o755);
  return p;
}

function runLauncher(app: InstalledApp, env: Record<string, string>, args: string[] = ['--execute'], input = '') {
  const r = spawnSync(findActionScript(app), args, { env: { ...env, SPLUNK_HOME: app.splunkHome }, input, encoding: 'utf8' });
  return { code: r.status, stderr: r.stderr, stdout: r.stdout, lines: parseLogLines(r.stderr) };
}

describe('launcher bin/soar_response.sh', function () {
  this.timeout(30_000);
  let app: InstalledApp;
  let tmp: string;
  before(async () => {
    app = await installApp();
    tmp = mkdtempSync(path.join(tmpdir(), 'soar-node-'));
  });
  after(() => {
    rmSync(app.splunkHome, { recursive: true, force: true });
    rmSync(tmp, { recursive: true, force: true });
  });

  it('is the script splunkd discovers for the stanza, mode 755', () => {
    const script = findActionScript(app);
    assert.equal(path.basename(script), 'soar_response.sh');
    assert.equal(execFileSync('stat', ['-c', '%a', script], { encoding: 'utf8' }).trim(), '755');
  });

  it('no Node anywhere: one FATAL line naming what it tried, exit 5', () => {
    const r = runLauncher(app, { PATH: pathWithoutNode(tmp) });
    assert.equal(r.code, 5);
    assert.equal(r.lines.length, 1);
    assert.equal(r.lines[0]!.level, 'FATAL');
    const msg = r.lines[0]!.fields.message!;
    assert.match(msg, /needs Node\.js >= 18/);
    assert.match(msg, /bin\/node\/bin\/node\(not found\)/);
    assert.ok(msg.includes(`${app.splunkHome}/bin/node(not found)`));
    assert.match(msg, /node-on-PATH\(not found\)/);
  });

  it('SOAR_NODE reporting an old version: FATAL naming that version, exit 5, no fallback', () => {
    const old = fakeNode(tmp, 'node16', 'echo v16.20.2');
    const r = runLauncher(app, { PATH: process.env.PATH!, SOAR_NODE: old });
    assert.equal(r.code, 5);
    assert.equal(r.lines[0]!.level, 'FATAL');
    assert.ok(r.lines[0]!.fields.message!.includes(`${old}(v16.20.2, too old)`));
  });

  it('SOAR_NODE that prints no version: FATAL saying so', () => {
    const broken = fakeNode(tmp, 'notnode', 'echo hello');
    const r = runLauncher(app, { PATH: process.env.PATH!, SOAR_NODE: broken });
    assert.equal(r.code, 5);
    assert.match(r.lines[0]!.fields.message!, /no version: 'hello'/);
  });

  it("skips Splunk's own old Node (Splunk <= 10.0) and uses node on PATH", () => {
    mkdirSync(path.join(app.splunkHome, 'bin'), { recursive: true });
    fakeNode(path.join(app.splunkHome, 'bin'), 'node', 'echo v8.17.0');
    const r = runLauncher(app, { PATH: process.env.PATH! }, ['--execute'], '');
    // It reached the bundle: the bundle's own error for an empty payload, not the launcher's FATAL.
    assert.equal(r.code, 3, r.stderr);
    assert.equal(r.lines[0]!.fields.reason, 'empty');
  });

  it('passes argv and stdin through unchanged to the Node it found', () => {
    const record = path.join(tmp, 'record');
    const spy = fakeNode(tmp, 'spy-node', `if [ "$1" = --version ]; then echo v20.11.1; exit 0; fi\nprintf '%s\\n' "$@" > '${record}.args'\ncat > '${record}.stdin'\nexit 7`);
    const stdin = '{"sid":"x","weird":"a b\\u0000 $HOME `id`"}\n\u00e9\u00e8';
    const r = runLauncher(app, { PATH: process.env.PATH!, SOAR_NODE: spy }, ['--execute', 'two words', '$x'], stdin);
    assert.equal(r.code, 7, 'the exit code of Node is the exit code of the launcher (exec)');
    const args = readFileSync(`${record}.args`, 'utf8').split('\n').slice(0, -1);
    assert.deepEqual(args, [path.join(app.appDir, 'bin', 'soar_response_main.cjs'), '--execute', 'two words', '$x']);
    assert.equal(readFileSync(`${record}.stdin`, 'utf8'), stdin);
  });

  it('passes shellcheck (POSIX sh)', () => {
    const sc = spawnSync('shellcheck', ['--shell=sh', '--severity=style', findActionScript(app)], { encoding: 'utf8' });
    if (sc.error) assert.fail('shellcheck is not installed: apt-get install shellcheck (.ci/run installs it)');
    assert.equal(sc.status, 0, sc.stdout + sc.stderr);
  });
});
