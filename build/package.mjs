// Stages the Splunk app soar_edr and writes dist/soar_edr-<version>.tgz.
// Layout (DESIGN.md §6): default/ from default/, the rest from splunk_app/, launchers and
// bundles in bin/. Modes are set explicitly: 755 for directories and bin/*.sh|*.cmd, 644 for
// everything else (AppInspect: execute bits only in bin/). No local/, no local.meta.
import { chmodSync, cpSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tar from 'tar';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
const APP = 'soar_edr';
const stageRoot = join(root, 'dist', 'stage');
const stage = join(stageRoot, APP);

for (const needed of ['bin/soar_response_main.cjs', 'bin/soar_response_action.cjs', 'bin/vendor/splunk-sdk.cjs']) {
  if (!existsSync(join(root, needed))) throw new Error(`${needed} is missing: run "npm run build" first`);
}

rmSync(stageRoot, { recursive: true, force: true });
mkdirSync(stage, { recursive: true });
cpSync(join(root, 'splunk_app'), stage, { recursive: true });
cpSync(join(root, 'default'), join(stage, 'default'), { recursive: true });
mkdirSync(join(stage, 'bin', 'vendor'), { recursive: true });
for (const f of ['soar_response.sh', 'soar_response.cmd', 'soar_response_main.cjs', 'soar_response_action.cjs']) cpSync(join(root, 'bin', f), join(stage, 'bin', f));
for (const f of readdirSync(join(root, 'bin', 'vendor'))) cpSync(join(root, 'bin', 'vendor', f), join(stage, 'bin', 'vendor', f));
cpSync(join(root, 'LICENSE'), join(stage, 'LICENSE'));

for (const forbidden of ['local', 'metadata/local.meta']) {
  if (existsSync(join(stage, forbidden))) throw new Error(`the package must not contain ${forbidden}`);
}

function setModes(dir) {
  chmodSync(dir, 0o755);
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) setModes(p);
    else {
      const rel = relative(stage, p);
      const executable = /^bin\/[^/]+\.(sh|cmd)$/.test(rel);
      chmodSync(p, executable ? 0o755 : 0o644);
    }
  }
}
setModes(stage);

const out = join(root, 'dist', `${APP}-${pkg.version}.tgz`);
await tar.c({ gzip: { level: 9 }, file: out, cwd: stageRoot, portable: true, mtime: new Date('2026-01-01T00:00:00Z') }, [APP]);
console.log(`packaged ${relative(root, out)} (${(statSync(out).size / 1024).toFixed(1)} KiB)`);
