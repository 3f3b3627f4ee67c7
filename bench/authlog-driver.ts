/**
 * Child-process driver for the authlog benchmark: streams one file through the core
 * (log-stream readLines -> AuthLogAnalyzer) as the CLI's summary mode does, without option
 * parsing or output rendering, and prints one JSON line: lines, counted failures, sources, the
 * process's own elapsed and CPU time and peak RSS.
 *   node out/bench/authlog-driver.js FILE
 */
import { createReadStream } from 'node:fs';
import { AuthLogAnalyzer } from '../src/analysis/authlog';
import { DEFAULT_BRUTE_FORCE_OPTIONS } from '../src/analysis/bruteforce';
import { createLogClock } from '../src/analysis/log-clock';
import { readLines } from '../src/analysis/log-stream';
import { useStreamingHeap } from '../src/cli/streaming-heap';

async function main(): Promise<void> {
  const file = process.argv[2];
  if (file === undefined) throw new Error('usage: authlog-driver FILE');
  // The CLI's heap settings, so that this row differs from the CLI's by the shell alone.
  useStreamingHeap();
  const started = process.hrtime.bigint();
  const clock = createLogClock({ year: 2025 });
  if (!clock.ok) throw new Error(clock.error.message);
  // No per-attempt callback: the CLI's summary mode (--format json without --attempts).
  const analyzer = new AuthLogAnalyzer(clock.value, DEFAULT_BRUTE_FORCE_OPTIONS);
  const read = await readLines(createReadStream(file, { highWaterMark: 256 * 1024 }), (line) => analyzer.feedLine(line));
  if (!read.ok) throw new Error(read.error.message);
  const s = analyzer.summarize();
  const ms = Number(process.hrtime.bigint() - started) / 1e6;
  process.stdout.write(
    `${JSON.stringify({
      lines: read.value.lines,
      bytes: read.value.bytes,
      eventLines: s.counts.eventLines,
      failedPasswordLines: s.counts.failedPasswordLines,
      totalFailures: s.failures.totalFailures,
      distinctSources: s.failures.distinctSources,
      bruteForce: s.failures.bruteForce.length,
      top: s.failures.topSources.slice(0, 3).map((t) => `${t.address}=${t.failures}`),
      ms,
      cpuMs: (process.cpuUsage().user + process.cpuUsage().system) / 1000,
      maxRssKb: process.resourceUsage().maxRSS,
    })}\n`,
  );
}

main().catch((e: unknown) => {
  console.error(e);
  process.exitCode = 1;
});
