/**
 * `npm run bench`: runs every benchmark against the built package and prints one table.
 * BENCH_RUNS sets the number of timed runs per measurement (default 15); BENCH_SPOOL=1 adds
 * the 1,000,000-row spool stress bench (several minutes).
 */
import { benchAlertAction, BenchLine } from './alert-action.bench';
import { benchDigest } from './digest.bench';
import { benchKvStore } from './kvstore.bench';
import { benchAuthlog } from './authlog.bench';
import { benchIocs } from './iocs.bench';
import { benchGenerator } from './generator.bench';
import { benchSpool } from './spool.bench';

async function main(): Promise<void> {
  const runs = Number(process.env.BENCH_RUNS ?? 15);
  const lines: BenchLine[] = [];
  lines.push(...(await benchAlertAction(runs)));
  lines.push(...(await benchDigest(runs)));
  lines.push(...(await benchKvStore(runs)));
  lines.push(...(await benchAuthlog(runs)));
  lines.push(...(await benchIocs(runs)));
  lines.push(...(await benchGenerator(runs)));
  if (process.env.BENCH_SPOOL === '1') lines.push(...(await benchSpool()));
  const width = Math.max(...lines.map((l) => l.name.length));
  for (const l of lines) console.log(`${l.skipped === true ? 'SKIP' : l.pass ? 'PASS' : 'MISS'}  ${l.name.padEnd(width)}  ${l.value}  (target ${l.target})`);
  if (lines.some((l) => !l.pass)) process.exitCode = 1;
}

main().catch((e: unknown) => {
  console.error(e);
  process.exitCode = 1;
});
