/**
 * The built soar-edr CLI (dist/cli/soar-edr.cjs) run in a child process, for the emulator
 * tests. Asynchronous on purpose: the loopback stubs it talks to run in the test's process.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as path from 'node:path';
import { REPO_ROOT } from './paths';
import { LogLine, parseLogLines } from './splunk-log';

export const CLI = path.join(REPO_ROOT, 'dist', 'cli', 'soar-edr.cjs');

export interface BuiltCliRun {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
  /** stderr as Splunk-style log lines. */
  readonly lines: LogLine[];
}

export interface BuiltCliOptions {
  /** The child's whole environment besides PATH: nothing of this process's leaks in. */
  readonly env?: Readonly<Record<string, string>>;
  /** Written to stdin, which is then closed. */
  readonly input?: string;
  /** Node options before the script (e.g. a heap limit). */
  readonly nodeArgs?: readonly string[];
}

export function runBuiltCli(args: readonly string[], options: BuiltCliOptions = {}): Promise<BuiltCliRun> {
  return new Promise((resolve, reject) => {
    const c = spawn(process.execPath, [...(options.nodeArgs ?? []), CLI, ...args], { env: { PATH: process.env.PATH ?? '', ...options.env } });
    let stdout = '';
    let stderr = '';
    c.stdout.on('data', (d: Buffer) => (stdout += d));
    c.stderr.on('data', (d: Buffer) => (stderr += d));
    c.on('error', reject);
    c.on('close', (code) => resolve({ code, stdout, stderr, lines: parseLogLines(stderr) }));
    c.stdin.end(options.input ?? '');
  });
}

/** A command's one-line `key=value …` summary on stdout (asserts it is exactly one line). */
export function summaryOf(run: { readonly stdout: string }): Record<string, string> {
  const lines = run.stdout.trim().split('\n');
  assert.equal(lines.length, 1, `one summary line expected on stdout:\n${run.stdout}`);
  return Object.fromEntries(lines[0]!.split(' ').map((kv) => kv.split('=') as [string, string]));
}
