/**
 * Where the IOC test data lives. Tests run compiled from out/test/analysis/, so the repository
 * root is three levels up and shared/ sits beside it.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

const REPO_ROOT = path.resolve(__dirname, '../../..');

export const IOCS_CORPUS_DIR = path.resolve(REPO_ROOT, '..', 'shared', 'corpus', 'iocs');

export function iocsCorpusPath(name: string): string {
  return path.join(IOCS_CORPUS_DIR, name);
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
