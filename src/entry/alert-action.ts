/**
 * Bundle entry of the soar_response alert action (bin/soar_response_main.cjs), started by
 * bin/soar_response.sh. The thin shell: real stdin/stderr/env/clock/disk/network in, exit
 * code out.
 */
import { readSync, writeSync } from 'node:fs';
import { homedir } from 'node:os';
import { createIncidentPipeline, PipelineDeps, systemPipelineDeps } from '../pipeline/incident-pipeline';
import { alertStateFor, memoAppConf } from '../pipeline/deps';
import { maintainIncidents } from '../pipeline/maintenance';
import { writeDeadLetter } from '../respond/outbox';
import { runAlertAction } from '../splunk/alert-run';
import { appDirFor } from '../splunk/app-conf';
import { EXIT } from '../splunk/exit-codes';
import type { MaintenanceSetup } from '../splunk/maintenance-run';
import { formatLogLine } from '../splunk/log';
import { MAX_PAYLOAD_BYTES } from '../splunk/payload';
import { fetchStoredSecrets } from '../splunk/secrets';
import { DataLayout, dataLayout, resolveDataDir } from '../store/data-dir';
import { prepareDataDir } from '../store/data-dir-safety';
import { spoolStore } from '../store/spool';

function writeStderr(text: string): void {
  const buf = Buffer.from(text, 'utf8');
  let off = 0;
  while (off < buf.length) {
    try {
      off += writeSync(2, buf, off);
    } catch (e) {
      // A non-blocking stderr pipe that is momentarily full: retry; anything else: give up.
      if ((e as NodeJS.ErrnoException).code !== 'EAGAIN') return;
    }
  }
}

/**
 * All of stdin, read synchronously from fd 0: splunkd writes the payload and closes the
 * pipe, and not touching process.stdin spares loading Node's socket and TTY machinery on
 * every alert. Undefined when it exceeds the payload size limit.
 */
function readStdin(): Promise<string | undefined> {
  const chunks: Buffer[] = [];
  let size = 0;
  for (;;) {
    const chunk = Buffer.allocUnsafe(64 * 1024);
    let n: number;
    try {
      n = readSync(0, chunk, 0, chunk.length, null);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'EAGAIN') continue;
      if (code === 'EOF') break;
      return Promise.reject(e);
    }
    if (n === 0) break;
    size += n;
    if (size > MAX_PAYLOAD_BYTES) return Promise.resolve(undefined);
    chunks.push(chunk.subarray(0, n));
  }
  return Promise.resolve(Buffer.concat(chunks).toString('utf8'));
}

async function parseXml(text: string): Promise<unknown> {
  // Only when an admin sets payload_format = xml; kept out of the main bundle.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const xml2js = require('xml2js') as typeof import('xml2js');
  return xml2js.parseStringPromise(text, { explicitArray: true });
}

// fetch's HTTP parser is WebAssembly; V8 optimises it on background threads that the process
// then waits for at exit (~200 ms, more than the rest of a per-result run). A few requests do
// not need the optimised tier. Set on the first provider request only: a warm-cache run never
// calls fetch (the webhook goes over node:https) and spares loading node:v8.
// The flag exists in every V8 of Node >= 18 (V8 10.2+); an unknown one would print an unprefixed line.
let liftoffOnly = false;
const providerFetch: typeof fetch = (input, init) => {
  if (!liftoffOnly && Number(process.versions.v8.split('.')[0]) >= 10) {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    (require('node:v8') as typeof import('node:v8')).setFlagsFromString('--liftoff-only');
  }
  liftoffOnly = true;
  return fetch(input, init);
};

// Replaced by the real (link-resolved) directory once the start-up check has passed.
let layout: DataLayout = dataLayout(resolveDataDir(process.env, homedir()));

// The app's soar_edr.conf is found from this bundle's folder (<app>/bin).
const appDir = appDirFor(process.env, __dirname);

function pipelineDeps(): PipelineDeps {
  // soar_edr.conf is read once per pipeline, for the host limits and [state] alike.
  const appConf = memoAppConf(appDir, layout.root);
  return { ...systemPipelineDeps(layout, process.env, appDir, appConf), fetch: providerFetch, stateFor: alertStateFor(layout, process.env, appConf) };
}

runAlertAction(
  {
    args: process.argv.slice(2),
    readStdin,
    writeStderr,
    env: process.env,
    now: () => new Date(),
    parseXml,
    fetchStoredSecrets,
    maxRssKb: () => process.resourceUsage().maxRSS,
    uptimeMs: () => performance.now(),
    checkDataDir: () => {
      const prepared = prepareDataDir(layout.root);
      if (!prepared.ok) return prepared.error;
      layout = dataLayout(prepared.value.root);
      return undefined;
    },
    keepDeadLetter: (text, reason) => {
      const r = writeDeadLetter(layout, 'payload', text, reason, Date.now());
      return r.ok ? r.value : undefined;
    },
    // A getter: the spool lives in the directory the start-up check resolved.
    get spool() {
      return spoolStore(layout);
    },
    // Getters too: the lease and the work live in the resolved data directory.
    get maintenance(): MaintenanceSetup {
      return {
        // One pipeline, so the lease and the work are in the same store (and share its connection).
        open: (context) => {
          const pipeline = createIncidentPipeline(context, pipelineDeps());
          return { leases: pipeline.state.leases, maintain: () => maintainIncidents(pipeline, context.log) };
        },
      };
    },
  },
  (context) => createIncidentPipeline(context, pipelineDeps()),
).then(
  (summary) => {
    // Everything is written (stderr and files synchronously); do not wait for idle keep-alive
    // connections to Discord or splunkd to time out before exiting.
    process.exit(summary.exitCode);
  },
  (e: unknown) => {
    writeStderr(formatLogLine('FATAL', { action_name: 'soar_response', signature: 'Unexpected failure', message: (e as Error)?.stack ?? String(e) }) + '\n');
    process.exit(EXIT.INTERNAL);
  },
);
