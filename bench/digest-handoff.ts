/**
 * Child process for the digest benchmark: the contract layer (argv, payload, streamed gzip
 * CSV, __mv_ decoding, address check, rid) handing every row of a results file to a pipeline
 * that only counts — what issue 2 measures. Prints {rows, ms, maxRssKb} as JSON.
 * Usage: node out/bench/digest-handoff.js < payload.json
 */
import { readFileSync } from 'node:fs';
import { ok } from '../src/result';
import { runAlertAction } from '../src/splunk/alert-run';

const started = Date.now();
let handed = 0;
runAlertAction(
  {
    args: ['--execute'],
    readStdin: async () => readFileSync(0, 'utf8'),
    writeStderr: () => undefined,
    env: {},
    now: () => new Date(),
    parseXml: async () => ({}),
    fetchStoredSecrets: async () => ok({}),
    maxRssKb: () => process.resourceUsage().maxRSS,
    keepDeadLetter: () => undefined,
  },
  () => ({
    configProblems: [],
    handleRow: async () => {
      handed += 1;
      return { status: 'handled' };
    },
    finish: async () => undefined,
  }),
).then((summary) => {
  process.stdout.write(JSON.stringify({ rows: handed, exitCode: summary.exitCode, ms: Date.now() - started, maxRssKb: process.resourceUsage().maxRSS }));
});
