/**
 * Bundle entry of the soar_response alert action (bin/soar_response_main.cjs), started by
 * bin/soar_response.sh. The thin shell: real stdin/stderr/env/clock in, exit code out.
 */
import { writeSync } from 'node:fs';
import { runAlertAction } from '../splunk/alert-run';
import { EXIT } from '../splunk/exit-codes';
import { formatLogLine } from '../splunk/log';
import { MAX_PAYLOAD_BYTES } from '../splunk/payload';
import { fetchStoredSecrets } from '../splunk/secrets';

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

function readStdin(): Promise<string | undefined> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let tooLarge = false;
    process.stdin.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_PAYLOAD_BYTES) tooLarge = true;
      else chunks.push(chunk);
    });
    process.stdin.on('end', () => resolve(tooLarge ? undefined : Buffer.concat(chunks).toString('utf8')));
    process.stdin.on('error', reject);
  });
}

async function parseXml(text: string): Promise<unknown> {
  // Only when an admin sets payload_format = xml; kept out of the main bundle.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const xml2js = require('xml2js') as typeof import('xml2js');
  return xml2js.parseStringPromise(text, { explicitArray: true });
}

runAlertAction({
  args: process.argv.slice(2),
  readStdin,
  writeStderr,
  env: process.env,
  now: () => new Date(),
  parseXml,
  fetchStoredSecrets,
  maxRssKb: () => process.resourceUsage().maxRSS,
}).then(
  (summary) => {
    process.exitCode = summary.exitCode;
  },
  (e: unknown) => {
    writeStderr(formatLogLine('FATAL', { action_name: 'soar_response', signature: 'Unexpected failure', message: (e as Error)?.stack ?? String(e) }) + '\n');
    process.exitCode = EXIT.INTERNAL;
  },
);
