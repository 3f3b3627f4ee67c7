/**
 * docker/Dockerfile and .dockerignore: lint-clean (dockerfile-utils), every image pinned, the
 * Node copied into Splunk new enough for the launcher, every COPY source present and inside the
 * build context, nothing secret or built in the context, and the build stage's own commands
 * (npm run package in a copy of exactly the context it gets) producing the package the splunk
 * stage copies.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { validate } from 'dockerfile-utils';
import { packageVersion } from '../support/paths';
import { dockerfileStages, DOCKERFILE, dockerIgnores, execForm, REPO_ROOT, repoFile, type Stage } from './deploy-files';

const dockerfile = repoFile(DOCKERFILE);
const { globalArgs, stages } = dockerfileStages(dockerfile);
const dockerignore = repoFile('.dockerignore');
const byName = (name: string): Stage => {
  const s = stages.find((x) => x.name === name);
  assert.ok(s, `stage ${name}`);
  return s;
};

/** Files of the repository (git's view: committed or not ignored), relative, slash-separated. */
function repoFiles(): string[] {
  const r = spawnSync('git', ['ls-files', '--cached', '--others', '--exclude-standard'], { cwd: REPO_ROOT, encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return r.stdout.split('\n').filter((f) => f !== '' && existsSync(path.join(REPO_ROOT, f)));
}

/** The local COPY sources (no --from) of every stage, as context-relative paths. */
function contextSources(): { source: string; line: number }[] {
  return stages.flatMap((s) => s.copies.filter((c) => c.from === null).flatMap((c) => c.sources.map((src) => ({ source: path.posix.normalize(src).replace(/\/$/, ''), line: c.line }))));
}

describe('docker/Dockerfile', () => {
  describe('lint (dockerfile-utils)', () => {
    it('validate() reports nothing, every optional check at warning level', () => {
      const diagnostics = validate(dockerfile, {
        deprecatedMaintainer: 1,
        directiveCasing: 1,
        emptyContinuationLine: 1,
        instructionCasing: 1,
        instructionCmdMultiple: 1,
        instructionEntrypointMultiple: 1,
        instructionHealthcheckMultiple: 1,
        instructionJSONInSingleQuotes: 1,
        instructionWorkdirRelative: 1,
      });
      assert.deepEqual(
        diagnostics.map((d) => `line ${d.range.start.line + 1}: ${d.message}`),
        [],
      );
    });

    it('reports a misspelled flag, a duration without unit, an unknown instruction and a lower-case, relative WORKDIR', () => {
      const broken = ['FROM node:22.23.2-bookworm-slim AS build', 'COPY --frm=build a b', 'HEALTHCHECK --interval=5 CMD true', 'CPY x y', 'workdir src', ''].join('\n');
      const messages = validate(broken, { instructionWorkdirRelative: 1, instructionCasing: 1 }).map((d) => `${d.range.start.line + 1}: ${d.message}`);
      const has = (line: number, re: RegExp) => assert.ok(messages.some((m) => m.startsWith(`${line}:`) && re.test(m)), messages.join('\n'));
      has(2, /Unknown flag: frm/);
      has(3, /missing unit in duration/);
      has(4, /Unknown instruction: CPY/);
      has(5, /WORKDIR paths should be absolute/);
      has(5, /uppercase/);
    });
  });

  describe('images and versions', () => {
    it('has the stages build, cli and splunk, and every FROM is a stage or a pinned x.y.z tag (never latest)', () => {
      assert.deepEqual(
        stages.map((s) => s.name),
        ['build', 'cli', 'splunk'],
      );
      for (const s of stages) {
        if (stages.some((o) => o.name === s.image)) continue;
        const m = /^([a-z0-9./-]+):([^@\s]+)$/.exec(s.image);
        assert.ok(m, `FROM ${s.image} names a tag`);
        assert.notEqual(m[2], 'latest');
        assert.match(m[2]!, /^\d+\.\d+\.\d+(-[a-z0-9.-]+)?$/, `FROM ${s.image}: a full version, not a moving major tag`);
      }
      assert.equal(byName('splunk').image, `splunk/splunk:${globalArgs.get('SPLUNK_VERSION')}`);
    });

    it("copies into Splunk the Node of the official node image, of a major the launcher accepts (bin/soar_response.sh's minimum)", () => {
      const min = Number(/^MIN_NODE_MAJOR=(\d+)$/m.exec(repoFile('bin/soar_response.sh'))?.[1]);
      assert.ok(min >= 18);
      const nodeVersion = globalArgs.get('NODE_VERSION')!;
      assert.ok(Number(nodeVersion.split('.')[0]) >= min, `Node ${nodeVersion} >= ${min}`);
      const copy = byName('splunk').copies.find((c) => c.sources.includes('/usr/local/bin/node'));
      assert.ok(copy);
      assert.equal(stages.find((s) => s.name === copy.from)!.image, `node:${nodeVersion}-bookworm-slim`);
      // the build fails at once if that Node does not run inside the Splunk image
      const run = byName('splunk').instructions.find((i) => i.keyword === 'RUN');
      assert.equal(execForm(run!.args)?.[0], copy.dest);
      // and the launcher is pointed at it, also from splunkd's environment (splunk-launch.conf)
      assert.equal(byName('splunk').env.get('SOAR_NODE'), copy.dest);
      assert.equal(byName('splunk').env.get('SPLUNK_LAUNCH_CONF'), `SOAR_NODE=${copy.dest}`);
    });

    it("SOAR_EDR_VERSION is package.json's version, and the splunk stage copies dist/soar_edr-<version>.tgz from the build stage's WORKDIR", () => {
      assert.equal(globalArgs.get('SOAR_EDR_VERSION'), packageVersion());
      const build = byName('build');
      const tgz = byName('splunk').copies.find((c) => c.sources.some((s) => s.endsWith('.tgz')))!;
      assert.equal(tgz.from, 'build');
      assert.deepEqual(tgz.sources, [path.posix.join(build.workdir, 'dist', `soar_edr-${packageVersion()}.tgz`)]);
      assert.ok(build.instructions.some((i) => i.keyword === 'RUN' && /^npm run package\b/.test(i.args)));
    });

    it('the cli stage runs the CLI bundle the build stage writes (dist/cli/soar-edr.cjs)', () => {
      const cli = byName('cli');
      const bundle = cli.copies.find((c) => c.from === 'build')!;
      assert.deepEqual(bundle.sources, [path.posix.join(byName('build').workdir, 'dist', 'cli') + '/']);
      const entry = execForm(cli.instructions.find((i) => i.keyword === 'ENTRYPOINT')!.args)!;
      assert.deepEqual(entry, ['node', path.posix.join(bundle.dest, 'soar-edr.cjs')]);
      assert.ok(cli.instructions.some((i) => i.keyword === 'USER' && i.args === 'node'), 'not root');
    });
  });

  describe('build context', () => {
    it('every local COPY source exists in the repository and is inside the build context', () => {
      const sources = contextSources();
      assert.ok(sources.length >= 8);
      for (const { source, line } of sources) {
        assert.ok(existsSync(path.join(REPO_ROOT, source)), `line ${line}: ${source} exists`);
        assert.equal(dockerIgnores(dockerignore, source), false, `line ${line}: ${source} is not excluded by .dockerignore`);
      }
    });

    it('.dockerignore keeps out node_modules, out/, dist/, .git, .env (and .env.*), built bundles and logs', () => {
      for (const p of [
        'node_modules/esbuild/package.json',
        'out/test/deploy/compose.test.js',
        'dist/soar_edr-0.1.0.tgz',
        'dist/cli/soar-edr.cjs',
        '.git/config',
        '.env',
        '.env.local',
        'docker/.env',
        'src/.env',
        'bin/soar_response_main.cjs',
        'bin/vendor/splunk-sdk.cjs',
        'bin/node/bin/node',
        'npm-debug.log',
        'src/cli/debug.log',
        'test/deploy/compose.test.ts',
        'README.md',
      ]) {
        assert.equal(dockerIgnores(dockerignore, p), true, `${p} stays out of the context`);
      }
    });

    it('of the files in this checkout, exactly the ones the Dockerfile copies reach the context', () => {
      const sent = repoFiles().filter((f) => !dockerIgnores(dockerignore, f));
      const sources = contextSources().map((s) => s.source);
      const copied = (f: string) => sources.some((s) => f === s || f.startsWith(`${s}/`));
      assert.deepEqual(
        sent.filter((f) => !copied(f) && !f.startsWith('docker/')),
        [],
        'nothing else is sent',
      );
      for (const f of sent) assert.ok(!/(^|\/)\.env(\.|$)/.test(f), `${f} is not an env file`);
    });

    it('the pattern matcher itself: last rule wins, parents match, ** spans folders', () => {
      const rules = ['*', '!src', 'src/**/secret.txt', '!src/keep/secret.txt'].join('\n');
      assert.equal(dockerIgnores(rules, 'README.md'), true);
      assert.equal(dockerIgnores(rules, 'src/a/b.ts'), false);
      assert.equal(dockerIgnores(rules, 'src/a/b/secret.txt'), true);
      assert.equal(dockerIgnores(rules, 'src/secret.txt'), true);
      assert.equal(dockerIgnores(rules, 'src/keep/secret.txt'), false);
    });
  });

  describe('the build stage, run here on a copy of its context', function () {
    this.timeout(120_000);
    let work: string;
    before(() => {
      work = mkdtempSync(path.join(tmpdir(), 'soar-docker-build-'));
      const build = byName('build');
      // what `COPY <sources> <dest>` puts into WORKDIR, from the filtered context
      for (const c of build.copies) {
        for (const src of c.sources) {
          const from = path.join(REPO_ROOT, src);
          const destDir = path.join(work, path.posix.relative(build.workdir, c.dest));
          const target = c.dest.endsWith('/') && !statSync(from).isDirectory() ? path.join(destDir, path.basename(src)) : destDir;
          mkdirSync(path.dirname(target), { recursive: true });
          cpSync(from, target, {
            recursive: true,
            filter: (p) => !dockerIgnores(dockerignore, path.relative(REPO_ROOT, p).split(path.sep).join('/')),
          });
        }
      }
      // stands in for `npm ci` (no registry access in tests): the same lock file, installed
      symlinkSync(path.join(REPO_ROOT, 'node_modules'), path.join(work, 'node_modules'), 'dir');
    });
    after(() => rmSync(work, { recursive: true, force: true }));

    it('holds no built file before the build (bin/*.cjs, dist/ come from the build itself)', () => {
      assert.equal(existsSync(path.join(work, 'dist')), false);
      assert.deepEqual(readdirSync(path.join(work, 'bin')).sort(), ['soar_response.cmd', 'soar_response.sh']);
    });

    it('npm run package there writes the package the splunk stage copies, and the CLI the cli stage copies', () => {
      const r = spawnSync('npm', ['run', 'package', '--silent'], { cwd: work, encoding: 'utf8' });
      assert.equal(r.status, 0, r.stdout + r.stderr);
      const tgz = byName('splunk').copies.find((c) => c.sources.some((s) => s.endsWith('.tgz')))!.sources[0]!;
      assert.ok(existsSync(path.join(work, path.posix.relative(byName('build').workdir, tgz))), `${tgz} was built`);
      const cli = path.join(work, 'dist', 'cli', 'soar-edr.cjs');
      assert.ok(existsSync(cli));
      // the cli stage copies dist/cli/ alone: it must run without node_modules next to it
      const alone = mkdtempSync(path.join(tmpdir(), 'soar-cli-stage-'));
      cpSync(path.join(work, 'dist', 'cli'), path.join(alone, 'cli'), { recursive: true });
      const help = spawnSync(process.execPath, [path.join(alone, 'cli', 'soar-edr.cjs'), 'secrets', 'list', '--help'], { cwd: alone, encoding: 'utf8' });
      rmSync(alone, { recursive: true, force: true });
      assert.equal(help.status, 0, help.stderr);
      assert.match(help.stdout, /list which secrets are stored/);
    });
  });
});
