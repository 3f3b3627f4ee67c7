/** Paths into /work/shared/corpus from the compiled test (out/test/intel/*.js). */
import * as fs from 'node:fs';
import * as path from 'node:path';

export const REPO_ROOT = path.resolve(__dirname, '../../..');
export const CORPUS_DIR = path.resolve(REPO_ROOT, '..', 'shared', 'corpus');

export function corpusPath(...parts: string[]): string {
  return path.join(CORPUS_DIR, ...parts);
}

export function readCorpusText(...parts: string[]): string {
  return fs.readFileSync(corpusPath(...parts), 'utf8');
}

export function readCorpusJson(...parts: string[]): unknown {
  return JSON.parse(readCorpusText(...parts)) as unknown;
}
