/** The IOC test data: threat reports and indicator lists in test/fixtures/corpus/iocs. */
import * as fs from 'node:fs';
import { corpusPath } from '../support/paths';

export const IOCS_CORPUS_DIR = corpusPath('iocs');

export function iocsCorpusPath(name: string): string {
  return corpusPath('iocs', name);
}

export function readIocsCorpus(name: string): string {
  return fs.readFileSync(iocsCorpusPath(name), 'utf8');
}

/** Non-empty lines of a corpus list file. */
export function readIocsCorpusLines(name: string): string[] {
  return readIocsCorpus(name)
    .split(/\r?\n/)
    .filter((line) => line.length > 0);
}
