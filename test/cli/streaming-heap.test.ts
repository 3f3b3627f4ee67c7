/**
 * The authlog/winlog heap settings must take effect when set at run time, not only on node's
 * command line: a Node whose V8 stopped reading them would silently give back the ~14 MB the
 * 1 GB benchmark depends on. Each case runs in its own process (the flags are process-wide).
 */
import { strict as assert } from 'node:assert';
import { execFileSync } from 'node:child_process';
import * as path from 'node:path';

const MODULE = path.resolve(__dirname, '../../src/cli/streaming-heap.js');

/** Allocates short-lived objects with a steady set of survivors, as a log scan does. */
function youngGenerationPeakMb(withSettings: boolean): number {
  const script = `
    if (${withSettings}) require(${JSON.stringify(MODULE)}).useStreamingHeap();
    const v8 = require('node:v8');
    const ring = new Array(50000);
    let max = 0;
    for (let i = 0; i < 2000000; i++) {
      ring[i % ring.length] = { i, s: 'x' + (i & 1023) };
      if ((i & 8191) === 0) {
        const size = v8.getHeapSpaceStatistics().find((s) => s.space_name === 'new_space').space_size;
        if (size > max) max = size;
      }
    }
    process.stdout.write(String(max / 2 ** 20));`;
  return Number(execFileSync(process.execPath, ['-e', script], { encoding: 'utf8' }));
}

describe('cli/streaming-heap', () => {
  it('keeps the young generation at its starting size where it would grow to 32 MB', () => {
    const without = youngGenerationPeakMb(false);
    const withSettings = youngGenerationPeakMb(true);
    assert.ok(without >= 16, `without the settings the young generation reached ${without} MB (expected it to grow)`);
    assert.ok(withSettings <= 4, `with the settings it reached ${withSettings} MB`);
  });
});
