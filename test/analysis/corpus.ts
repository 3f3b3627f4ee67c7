import * as path from 'node:path';
import * as fs from 'node:fs';

/** Compiled tests live in out/test/analysis; the repository root is three levels up, shared/ beside it. */
const repoRoot = path.resolve(__dirname, '../../..');
const corpusRoot = path.resolve(repoRoot, '..', 'shared', 'corpus');

export function corpusPath(...parts: string[]): string {
  return path.join(corpusRoot, ...parts);
}

export function corpusBytes(...parts: string[]): Buffer {
  return fs.readFileSync(corpusPath(...parts));
}

export function corpusText(...parts: string[]): string {
  return corpusBytes(...parts).toString('utf8');
}
