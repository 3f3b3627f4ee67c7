/** Readers for the real provider answers in test/fixtures/corpus. */
import * as fs from 'node:fs';
import { corpusPath } from '../support/paths';

export { corpusPath, REPO_ROOT } from '../support/paths';

export function readCorpusText(...parts: string[]): string {
  return fs.readFileSync(corpusPath(...parts), 'utf8');
}

export function readCorpusJson(...parts: string[]): unknown {
  return JSON.parse(readCorpusText(...parts)) as unknown;
}
