import * as path from 'node:path';

/** Compiled tests live in out/test/generator/, so the repository root is three levels up. */
const repoRoot = path.resolve(__dirname, '../../..');
const shared = path.resolve(repoRoot, '..', 'shared');

export function corpusPath(...parts: string[]): string {
  return path.resolve(shared, 'corpus', ...parts);
}

export function sharedPath(...parts: string[]): string {
  return path.resolve(shared, ...parts);
}
