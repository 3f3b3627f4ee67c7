/** Running compiled modules in separate Node processes, as Splunk runs one action per result. */
import { ChildProcess, spawn } from 'node:child_process';
import * as path from 'node:path';

/** The compiled src/respond folder, seen from out/test/respond/. */
export const COMPILED_RESPOND = path.resolve(__dirname, '../../src/respond');
export const COMPILED_STORE = path.resolve(__dirname, '../../src/store');

export interface ChildResult {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
}

export function startNode(script: string, env: Record<string, string> = {}): { child: ChildProcess; done: Promise<ChildResult> } {
  const child = spawn(process.execPath, ['-e', script], { env: { ...process.env, ...env } });
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (d: Buffer) => (stdout += d));
  child.stderr?.on('data', (d: Buffer) => (stderr += d));
  const done = new Promise<ChildResult>((resolve) => child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr })));
  return { child, done };
}

export function runNode(script: string, env: Record<string, string> = {}): Promise<ChildResult> {
  return startNode(script, env).done;
}

export function requireCompiled(name: string): string {
  return `require(${JSON.stringify(path.join(COMPILED_RESPOND, `${name}.js`))})`;
}
