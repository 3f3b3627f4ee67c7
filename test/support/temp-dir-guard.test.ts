/**
 * The temp-dir guard, run as the suite runs it: mocha in a child process with the guard and the
 * summary reporter, on a tiny spec file, with TMPDIR pointed at a folder of this test's own.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { REPO_ROOT } from './paths';
import { leftoverMessage, mkdtempPrefix } from './temp-dir-guard';

describe('support/temp-dir-guard', function () {
  this.timeout(60_000);
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'soar-guard-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  /** Mocha on `spec` (JavaScript) with only the guard and the reporter; the child's TMPDIR is `<dir>/tmp`. */
  function mochaOn(spec: string) {
    const specFile = path.join(dir, 'guarded.spec.js');
    writeFileSync(specFile, spec);
    const childTmp = path.join(dir, 'tmp');
    mkdirSync(childTmp);
    const r = spawnSync(
      process.execPath,
      [
        path.join(REPO_ROOT, 'node_modules', 'mocha', 'bin', 'mocha.js'),
        '--no-config',
        '--no-package',
        '--require',
        path.join(__dirname, 'temp-dir-guard.js'),
        '--reporter',
        path.join(__dirname, 'summary-reporter.js'),
        specFile,
      ],
      { cwd: dir, env: { ...process.env, TMPDIR: childTmp, TMP: childTmp, TEMP: childTmp }, encoding: 'utf8' },
    );
    return { code: r.status, out: r.stdout + r.stderr, leftInChildTmp: readdirSync(childTmp) };
  }

  it('a folder left by a test and a file left by a child process fail the run, each named, and the run folder is removed', () => {
    const r = mochaOn(`
      const { execFileSync } = require('node:child_process');
      const { mkdtempSync } = require('node:fs');
      const { tmpdir } = require('node:os');
      const path = require('node:path');
      it('leaks', () => {
        mkdtempSync(path.join(tmpdir(), 'soar-leaky-'));
        execFileSync(process.execPath, ['-e', "require('node:fs').writeFileSync(require('node:path').join(require('node:os').tmpdir(), 'from-child.txt'), 'x')"]);
      });
    `);
    assert.notEqual(r.code, 0, r.out);
    assert.match(r.out, /tests: 1 passed, 1 failed/);
    assert.match(r.out, /"after all" hook: the run leaves nothing in its temp folder/);
    assert.match(r.out, /tests left 2 entries in the run's temp folder .*soar-test-run-/);
    assert.match(r.out, /^ {2}from-child\.txt$/m);
    assert.match(r.out, /^ {2}soar-leaky-[A-Za-z0-9]{6} {3}\(mkdtemp prefix 'soar-leaky-'\)$/m);
    assert.deepEqual(r.leftInChildTmp, [], 'the guard removes its run folder, leftovers and all');
  });

  it('a run whose folders are removed, one by a root-level after() of the spec file, passes', () => {
    const r = mochaOn(`
      const { mkdtempSync, rmSync } = require('node:fs');
      const { tmpdir } = require('node:os');
      const path = require('node:path');
      const shared = mkdtempSync(path.join(tmpdir(), 'soar-shared-'));
      after(() => rmSync(shared, { recursive: true, force: true }));
      describe('tidy', () => {
        let dir;
        beforeEach(() => { dir = mkdtempSync(path.join(tmpdir(), 'soar-tidy-')); });
        afterEach(() => rmSync(dir, { recursive: true, force: true }));
        it('uses a temp folder', () => {});
      });
    `);
    assert.equal(r.code, 0, r.out);
    assert.match(r.out, /tests: 1 passed, 0 failed/);
    assert.doesNotMatch(r.out, /tests left/);
    assert.deepEqual(r.leftInChildTmp, []);
  });

  it('names the mkdtemp prefix when the name has one', () => {
    assert.equal(mkdtempPrefix('soar-batch-PmILDC'), 'soar-batch-');
    assert.equal(mkdtempPrefix('soar-q-x0Y9zz'), 'soar-q-');
    assert.equal(mkdtempPrefix('from-child.txt'), undefined);
    assert.equal(mkdtempPrefix('PmILDC'), undefined);
    assert.equal(
      leftoverMessage('/t/soar-test-run-abc123', ['z.txt', 'soar-a-AAAAAA']),
      [
        "tests left 2 entries in the run's temp folder /t/soar-test-run-abc123 (now removed):",
        "  soar-a-AAAAAA   (mkdtemp prefix 'soar-a-')",
        '  z.txt',
        "Remove every temp folder a test makes in an after/afterEach hook; find its maker with grep -rn \"'<prefix>'\" test src bench.",
      ].join('\n'),
    );
  });
});
