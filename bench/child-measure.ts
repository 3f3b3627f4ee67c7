/**
 * Running one benchmark child process pinned to one CPU core, with its wall time, CPU time and
 * peak RSS: `taskset -c 0` (when present) and GNU time's `%M` (when /usr/bin/time exists;
 * otherwise the child's peak RSS is unknown unless the child reports it itself).
 */
import { existsSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { timeProcess } from './stats';

/** The repository root (this file runs as out/bench/child-measure.js). */
export const REPO = path.resolve(__dirname, '../..');

/**
 * The Python scripts the benchmarks compare against (the lab scripts this project started from)
 * are not part of the repository: point SOAR_BASELINES_DIR at their folder to measure them in the
 * same run. Without it each bench measures our side only and prints which baseline it skipped.
 */
export function baselineScript(file: string): string | null {
  const dir = process.env.SOAR_BASELINES_DIR;
  const script = dir === undefined || dir === '' ? null : path.join(dir, file);
  if (script !== null && existsSync(script)) return script;
  process.stderr.write(
    `bench: baseline ${file} skipped: ${script === null ? 'SOAR_BASELINES_DIR is not set' : `${script} does not exist`} ` +
      '(set SOAR_BASELINES_DIR to the folder holding the Python baseline scripts to compare against them)\n',
  );
  return null;
}

/** The line a bench prints in place of a comparison whose baseline is not there. */
export function skippedBaseline(name: string, file: string): { name: string; value: string; target: string; pass: boolean; skipped: true } {
  return { name, value: `not measured: ${file} not found (SOAR_BASELINES_DIR)`, target: 'reference', pass: true, skipped: true };
}
export const CLI = path.join(REPO, 'dist', 'cli', 'soar-edr.cjs');

const TIME = '/usr/bin/time';
const MARK = 'SOARBENCH';
const hasTime = existsSync(TIME);
const hasTaskset = spawnSync('taskset', ['-c', '0', 'true']).status === 0;

export interface ChildRun {
  readonly ms: number;
  /** user + system CPU seconds of the child, when GNU time is present. */
  readonly cpuS: number | null;
  readonly rssMb: number | null;
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
  /** 1-minute load average when the run ended (the machine is shared). */
  readonly load: number;
}

export function pinning(): string {
  return hasTaskset ? 'pinned to core 0 (taskset -c 0)' : 'not pinned (no taskset): one process, one main thread';
}

export async function runChild(cmd: string, args: readonly string[]): Promise<ChildRun> {
  let argv = [cmd, ...args];
  if (hasTaskset) argv = ['taskset', '-c', '0', ...argv];
  if (hasTime) argv = [TIME, '-f', `${MARK} %e %M %U %S`, ...argv];
  const r = await timeProcess(argv[0]!, argv.slice(1), { env: process.env });
  let rssMb: number | null = null;
  let cpuS: number | null = null;
  let stderr = r.stderr;
  const at = stderr.lastIndexOf(MARK);
  if (at >= 0) {
    const [, , maxKb, user, sys] = stderr.slice(at).trim().split(/\s+/);
    rssMb = Number(maxKb) / 1024;
    cpuS = Number(user) + Number(sys);
    stderr = stderr.slice(0, at);
  }
  return { ms: r.ms, cpuS, rssMb, code: r.code, stdout: r.stdout, stderr, load: loadavg()[0]! };
}

export function loadNote(runs: readonly ChildRun[]): string {
  const loads = runs.map((r) => r.load);
  return `load avg ${Math.min(...loads).toFixed(1)}-${Math.max(...loads).toFixed(1)} on ${cpus().length} cores`;
}

export function perSecond(n: number, ms: number): string {
  const v = (n * 1000) / ms;
  return v >= 1e6 ? `${(v / 1e6).toFixed(2)} M` : v >= 1e3 ? `${(v / 1e3).toFixed(0)} k` : v.toFixed(0);
}
