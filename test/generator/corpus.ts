import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { FIXTURES } from '../support/paths';

export { corpusPath } from '../support/paths';

/** The lab attack script's line shapes, addresses and users (test/fixtures/lab-script). */
export interface LabScriptFormat {
  readonly failure_line: string;
  readonly success_line: string;
  readonly attacker_ips: readonly string[];
  readonly target_users: readonly string[];
}

export function labScriptFormat(): LabScriptFormat {
  return JSON.parse(readFileSync(path.join(FIXTURES, 'lab-script', 'kv-format.json'), 'utf8')) as LabScriptFormat;
}
