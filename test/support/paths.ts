import { readFileSync } from 'node:fs';
import * as path from 'node:path';

/** Tests run compiled from out/test/<folder>/; the repo root is three levels up. */
export const REPO_ROOT = path.resolve(__dirname, '../../..');
export const SHARED = path.resolve(REPO_ROOT, '..', 'shared');
export const CORPUS = path.join(SHARED, 'corpus');
export const SPLUNK_SPEC = path.join(SHARED, 'splunk-spec');

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
