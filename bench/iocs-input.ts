/**
 * Report text for the iocs benchmark, built deterministically from the real threat reports in
 * test/fixtures/corpus/iocs (Unit 42 Trickbot and Qakbot IOC notes, the ThreatConnect Guccifer 2.0
 * article, the ESET Zebrocy IoC table, the iocextract test input) and cached in tmp/bench-inputs/
 * (input-cache.ts) by size and seed.
 *
 * The reports are repeated in rounds. From the second round on every IPv4 address (plain or
 * defanged with "[.]") gets its third octet XORed with a per-round value and every run of
 * 32-128 hex digits gets its last six digits replaced, so indicators keep changing as they
 * would across many reports while the prose around them repeats.
 */
import { createWriteStream, existsSync, readFileSync, renameSync, statSync } from 'node:fs';
import * as path from 'node:path';
import { corpusRoot } from './authlog-input';
import { cachedInputPath } from './input-cache';
import { prng } from './prng';

const GENERATOR_VERSION = 1;

export const IOC_REPORTS = [
  'unit42_2020-08-24-IOCs-for-Trickbot-gtag-ono66.txt',
  'unit42_2023-05-02-IOCs-for-obama259-Qakbot.txt',
  'ioc-finder_long-article-1_threatconnect_guccifer2.txt',
  'eset_2018-11-20_Zebrocy.adoc',
  'iocextract_test_data_input.txt',
] as const;

export function iocReportPath(name: string): string {
  return path.join(corpusRoot, 'iocs', name);
}

export interface IocsInput {
  readonly file: string;
  readonly bytes: number;
}

const IPV4 = /\b(\d{1,3})(\.|\[\.\])(\d{1,3})(\.|\[\.\])(\d{1,3})(\.|\[\.\])(\d{1,3})\b/g;
const HEX_RUN = /\b[0-9a-fA-F]{32,128}\b/g;

/** The cached file of `megabytes` MiB for `seed`, generated on first use. */
export async function iocsInput(megabytes: number, seed = 1): Promise<IocsInput> {
  const target = Math.round(megabytes * 1024 * 1024);
  const file = cachedInputPath(`iocs-v${GENERATOR_VERSION}-${megabytes}mb-seed${seed}.txt`);
  if (existsSync(file) && statSync(file).size >= target) return { file, bytes: statSync(file).size };
  const reports = IOC_REPORTS.map((name) => {
    const text = readFileSync(iocReportPath(name), 'utf8');
    return text.endsWith('\n') ? text : `${text}\n`;
  });
  const rnd = prng(seed);
  const partial = `${file}.partial`;
  const out = createWriteStream(partial);
  let bytes = 0;
  for (let round = 0; bytes < target; round++) {
    const xor = round === 0 ? 0 : 1 + Math.floor(rnd() * 255);
    const suffix = Math.floor(rnd() * 0xffffff)
      .toString(16)
      .padStart(6, '0');
    for (const report of reports) {
      if (bytes >= target) break;
      const text =
        round === 0
          ? report
          : report
              .replace(IPV4, (_m, a: string, d1: string, b: string, d2: string, c: string, d3: string, d: string) =>
                Number(c) > 255 ? _m : `${a}${d1}${b}${d2}${Number(c) ^ xor}${d3}${d}`,
              )
              .replace(HEX_RUN, (h: string) => {
                const upper = /[A-F]/.test(h) && !/[a-f]/.test(h);
                return h.slice(0, -6) + (upper ? suffix.toUpperCase() : suffix);
              });
      const chunk = `${text}\n`;
      bytes += Buffer.byteLength(chunk);
      if (!out.write(chunk)) await new Promise<void>((r) => out.once('drain', () => r()));
    }
  }
  await new Promise<void>((resolve, reject) => out.end((err?: Error | null) => (err ? reject(err) : resolve())));
  renameSync(partial, file);
  return { file, bytes };
}

if (require.main === module) {
  const mb = Number(process.argv[2] ?? process.env.BENCH_IOCS_MB ?? 50);
  iocsInput(mb).then(
    (r) => console.log(JSON.stringify(r)),
    (e: unknown) => {
      console.error(e);
      process.exitCode = 1;
    },
  );
}
