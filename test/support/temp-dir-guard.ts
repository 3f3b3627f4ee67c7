/**
 * Gives the test run a temp folder of its own and fails the run if a test leaves anything in it.
 *
 * Mocha loads this module before any spec file (.mocharc.json "require"). It makes one fresh
 * folder in the OS temp directory and points TMPDIR (and TMP/TEMP, which Windows reads) at it:
 * os.tmpdir() reads the environment on every call, so every temp folder a test, a support stub
 * or a child process that inherits the environment makes lands in it. After the last test the
 * folder must be empty; anything in it fails the run as a failed root "after all" hook (counted
 * in the reporter's "N failed", exit code non-zero), listed by name. The folder is removed either
 * way when the process exits.
 *
 * Why a folder of our own rather than new `soar-*` entries in the shared /tmp: other runs on the
 * same machine (parallel CI jobs, other checkouts) make `soar-*` folders there at the same time,
 * which a snapshot would blame on us; and a leak whose name has no known prefix would go unseen.
 */
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import type Mocha from 'mocha';

/** The `prefix` a name made by mkdtemp(prefix) carries (mkdtemp adds six letters or digits). */
export function mkdtempPrefix(name: string): string | undefined {
  return /^(.*[-_.])[A-Za-z0-9]{6}$/.exec(name)?.[1];
}

/** What the failed run says: each leftover, with the prefix to search the code for. */
export function leftoverMessage(runTmp: string, leftovers: readonly string[]): string {
  const lines = [...leftovers].sort().map((name) => {
    const prefix = mkdtempPrefix(name);
    return `  ${name}${prefix === undefined ? '' : `   (mkdtemp prefix '${prefix}')`}`;
  });
  return [
    `tests left ${leftovers.length} ${leftovers.length === 1 ? 'entry' : 'entries'} in the run's temp folder ${runTmp} (now removed):`,
    ...lines,
    "Remove every temp folder a test makes in an after/afterEach hook; find its maker with grep -rn \"'<prefix>'\" test src bench.",
  ].join('\n');
}

const runTmp = mkdtempSync(path.join(tmpdir(), 'soar-test-run-'));
for (const name of ['TMPDIR', 'TMP', 'TEMP']) process.env[name] = runTmp;
process.on('exit', () => rmSync(runTmp, { recursive: true, force: true }));

function checkNothingLeft(): void {
  const leftovers = readdirSync(runTmp);
  if (leftovers.length === 0) return;
  const error = new Error(leftoverMessage(runTmp, leftovers));
  error.stack = error.message; // where the guard threw says nothing; the list says it all
  throw error;
}

export const mochaHooks = {
  beforeAll(this: Mocha.Context): void {
    // Registered now, not as a root hook of this plugin: plugin hooks run before the root-level
    // after() hooks of spec files, which may be the ones removing a folder.
    const root = this.test?.parent;
    if (root === undefined) throw new Error('temp-dir guard: mocha ran the root hook without its suite');
    root.afterAll('the run leaves nothing in its temp folder', checkNothingLeft);
  },
};
