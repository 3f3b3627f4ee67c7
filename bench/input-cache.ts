/**
 * Where the benchmarks keep the large inputs they generate (deterministic by generator version,
 * size and seed, so kept between runs): tmp/bench-inputs/ in the checkout, which .gitignore keeps
 * out of git and `git clean -fdX` removes. Not os.tmpdir(): a GiB file there outlives the checkout
 * (and on a tmpfs /tmp sits in memory), and two checkouts benchmarking at once would write the
 * same .partial file.
 */
import { mkdirSync } from 'node:fs';
import * as path from 'node:path';

/** Compiled to out/bench/: the repo root is two levels up. */
const INPUT_CACHE = path.resolve(__dirname, '../..', 'tmp', 'bench-inputs');

/** The cache path for `name`, the cache folder made if missing. */
export function cachedInputPath(name: string): string {
  mkdirSync(INPUT_CACHE, { recursive: true });
  return path.join(INPUT_CACHE, name);
}
