/**
 * The .conf files of the built app package (dist/soar_edr-<version>.tgz) as an admin would
 * install them: unpacked into a temporary $SPLUNK_HOME, read, and the folder removed again.
 */
import { strict as assert } from 'node:assert';
import { readFileSync, rmSync } from 'node:fs';
import * as path from 'node:path';
import { ConfStanza, parseConf } from './conf-file';
import { installApp } from './splunkd-emulator';
import { macroDefs } from '../detections/macros';

/** default/<file> of the packaged app, parsed, for each file asked for. */
export async function packagedConfs(files: readonly string[]): Promise<Map<string, ConfStanza[]>> {
  const app = await installApp();
  try {
    return new Map(files.map((f) => [f, parseConf(readFileSync(path.join(app.appDir, 'default', f), 'utf8'))]));
  } finally {
    rmSync(app.splunkHome, { recursive: true, force: true });
  }
}

/** The packaged macros.conf: a macro without arguments by name, its definition (asserting it is there). */
export async function packagedMacros(): Promise<(name: string) => string> {
  const { defs, problems } = macroDefs((await packagedConfs(['macros.conf'])).get('macros.conf')!);
  assert.deepEqual(problems, []);
  return (name) => {
    const m = defs.get(`${name}/0`);
    assert.ok(m, `the packaged macros.conf has no [${name}]`);
    return m.definition;
  };
}

/** A window macro's relative time ("earliest=-15m latest=now") as the seconds it looks back. */
export function lookBackSeconds(definition: string): number {
  const m = /^earliest=-(\d+)([smhd]) latest=now$/.exec(definition.trim());
  assert.ok(m, `not a plain look-back window: ${definition}`);
  return Number(m[1]) * { s: 1, m: 60, h: 3600, d: 86_400 }[m[2] as 's' | 'm' | 'h' | 'd'];
}
