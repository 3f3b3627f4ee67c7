import { readFileSync } from 'node:fs';
import * as path from 'node:path';

/** Tests run compiled from out/test/<folder>/; the repo root is three levels up. */
export const REPO_ROOT = path.resolve(__dirname, '../../..');
/** Real third-party test data, each file's source and licence in its folder's SOURCES.md. */
export const CORPUS = path.join(REPO_ROOT, 'test', 'fixtures', 'corpus');
/** Other committed test facts (Splunk spec facts, SPL reference facts, the Compose schema). */
export const FIXTURES = path.join(REPO_ROOT, 'test', 'fixtures');

export function corpusPath(...parts: string[]): string {
  return path.join(CORPUS, ...parts);
}

export function packageVersion(): string {
  return (JSON.parse(readFileSync(path.join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string }).version;
}

/** The app package `npm run package` built (npm test runs it first). */
export function packagePath(): string {
  return path.join(REPO_ROOT, 'dist', `soar_edr-${packageVersion()}.tgz`);
}
