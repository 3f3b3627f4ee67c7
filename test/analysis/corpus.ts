import * as fs from 'node:fs';
import { corpusPath } from '../support/paths';

export { corpusPath } from '../support/paths';

export function corpusBytes(...parts: string[]): Buffer {
  return fs.readFileSync(corpusPath(...parts));
}

export function corpusText(...parts: string[]): string {
  return corpusBytes(...parts).toString('utf8');
}
