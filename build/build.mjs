// Bundles the TypeScript sources with esbuild:
//   bin/soar_response_main.cjs   an ES5 Node version guard, then bin/soar_response_action.cjs
//   bin/soar_response_action.cjs the alert action (small: started once per alert)
//   bin/vendor/*.cjs             code the action loads only when needed (splunk-sdk, xml2js)
//   dist/cli/soar-edr.cjs        the analyst CLI (+ dist/cli/vendor/, the same lazy modules)
// No node_modules at run time; target Node 18 (the oldest Node the launcher accepts).
import { build } from 'esbuild';
import { copyFileSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));

/** Modules the alert action must not load up front: resolved at run time from bin/vendor/. */
const LAZY = {
  '../../../build/vendor-splunk-sdk.cjs': './vendor/splunk-sdk.cjs',
  xml2js: './vendor/xml2js.cjs',
};

const lazyVendor = {
  name: 'lazy-vendor',
  setup(b) {
    const filter = new RegExp(`^(${Object.keys(LAZY).map((k) => k.replace(/[/.]/g, '\\$&')).join('|')})$`);
    b.onResolve({ filter }, (args) => ({ path: LAZY[args.path], external: true }));
  },
};

// needle (splunk-sdk's HTTP client) decodes non-UTF-8 bodies with iconv-lite, 480 KiB of
// code tables, and falls back to a pass-through when it cannot load it. splunkd answers
// UTF-8 JSON, so leave it out: require() of this path fails and needle passes bodies through.
const noIconv = {
  name: 'no-iconv',
  setup(b) {
    b.onResolve({ filter: /^iconv-lite$/ }, () => ({ path: './iconv-lite-not-bundled.cjs', external: true }));
  },
};

const common = {
  bundle: true,
  platform: 'node',
  target: 'node18',
  format: 'cjs',
  minify: true,
  legalComments: 'linked',
  logLevel: 'warning',
  define: { 'process.env.SOAR_EDR_VERSION': JSON.stringify(pkg.version) },
};

mkdirSync(join(root, 'bin', 'vendor'), { recursive: true });
const results = await Promise.all([
  build({
    ...common,
    entryPoints: [join(root, 'src/entry/alert-action.ts')],
    outfile: join(root, 'bin/soar_response_action.cjs'),
    plugins: [lazyVendor],
    metafile: true,
  }),
  build({
    ...common,
    entryPoints: [join(root, 'build/vendor-splunk-sdk.cjs')],
    // The SDK is sloppy-mode code (arguments.callee): keep our tsconfig's strict mode out of it.
    tsconfigRaw: '{}',
    outfile: join(root, 'bin/vendor/splunk-sdk.cjs'),
    plugins: [noIconv],
  }),
  build({ ...common, entryPoints: [join(root, 'node_modules/xml2js/lib/xml2js.js')], outfile: join(root, 'bin/vendor/xml2js.cjs') }),
  build({
    ...common,
    entryPoints: [join(root, 'src/entry/cli.ts')],
    outfile: join(root, 'dist/cli/soar-edr.cjs'),
    banner: { js: '#!/usr/bin/env node' },
    // Lazy too: the SDK's own code is sloppy-mode JavaScript (arguments.callee) and breaks
    // inside our strict-mode bundle.
    plugins: [lazyVendor],
  }),
]);
// The file the launcher runs: plain ES5, so that even a Node too old to parse the bundle
// reaches the version check and says what is wrong (the launcher normally checks first, but
// it remembers a Node that passed, and that Node may since have been replaced).
writeFileSync(
  join(root, 'bin/soar_response_main.cjs'),
  `'use strict';
var major = Number(process.versions.node.split('.')[0]);
if (major < 18) {
  try { require('fs').unlinkSync(require('path').join(process.env.SPLUNK_HOME || '/nonexistent', 'var', 'run', 'soar_edr', 'node-checked')); } catch (e) {}
  process.stderr.write('FATAL action_name="soar_response" signature="No usable Node.js" message="soar_response needs Node.js >= 18; ' + process.execPath + ' is v' + process.versions.node + '. Set SOAR_NODE to a Node >= 18"\\n');
  process.exit(5);
}
require('./soar_response_action.cjs');
`,
);
mkdirSync(join(root, 'dist', 'cli', 'vendor'), { recursive: true });
for (const f of readdirSync(join(root, 'bin', 'vendor'))) copyFileSync(join(root, 'bin', 'vendor', f), join(root, 'dist', 'cli', 'vendor', f));
const main = Object.values(results[0].metafile.outputs).find((o) => o.entryPoint);
console.log(`built alert action bundle: ${(main.bytes / 1024).toFixed(1)} KiB; vendor and CLI bundles written`);
