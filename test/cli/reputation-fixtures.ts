/**
 * Paths, data and provider stubs for the reputation tests. Compiled to out/test/cli/, so the
 * repo root is three levels up; the VirusTotal domain and file bodies are in
 * test/cli/fixtures/virustotal (see its SOURCE.md), the rest in test/fixtures/corpus.
 */
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { AbuseAnswer, IntelStub, startAbuseIpdbStub, startVirusTotalStub, VtAnswer } from '../support/intel-stubs';

import { corpusPath, REPO_ROOT } from '../support/paths';

export { REPO_ROOT };
const FIXTURES = path.join(REPO_ROOT, 'test', 'cli', 'fixtures', 'virustotal');

export const DOMAIN_FIXTURE = 'opencti_vt_test_domain.excerpt.json';
export const FILE_FIXTURE = 'opencti_vt_test_file.excerpt.json';

export function fixtureText(name: string): string {
  return readFileSync(path.join(FIXTURES, name), 'utf8');
}

export function fixtureJson(name: string): unknown {
  return JSON.parse(fixtureText(name)) as unknown;
}

export function corpusJson(...parts: string[]): unknown {
  return JSON.parse(readFileSync(corpusPath(...parts), 'utf8')) as unknown;
}

interface FixtureFile {
  data: { id: string; attributes: { md5: string; sha1: string; sha256: string } };
}

/** The captured domain and file, as the facts the tests check against (read from the bodies, not retyped). */
export function capturedObjects(): { domain: string; md5: string; sha1: string; sha256: string } {
  const domain = (fixtureJson(DOMAIN_FIXTURE) as { data: { id: string } }).data.id;
  const file = (fixtureJson(FILE_FIXTURE) as FixtureFile).data.attributes;
  return { domain, md5: file.md5, sha1: file.sha1, sha256: file.sha256 };
}

/** The VirusTotal stub's `objects` option: the domain, and the file under each of its three hashes. */
export function vtObjectBodies(): Record<string, string> {
  const c = capturedObjects();
  const file = fixtureText(FILE_FIXTURE);
  return {
    [`domains/${c.domain}`]: fixtureText(DOMAIN_FIXTURE),
    [`files/${c.md5}`]: file,
    [`files/${c.sha1}`]: file,
    [`files/${c.sha256}`]: file,
  };
}

export interface ReputationStubs {
  readonly vt: IntelStub<VtAnswer>;
  readonly abuse: IntelStub<AbuseAnswer>;
}

/**
 * For a describe() block: the loopback VirusTotal stub (answering the captured domain and
 * file too) and the AbuseIPDB stub, started before the block's tests and closed after them,
 * each test starting with empty request logs. The stubs are there once the block's before
 * hooks have run.
 */
export function useReputationStubs(): ReputationStubs {
  let vt: IntelStub<VtAnswer> | undefined;
  let abuse: IntelStub<AbuseAnswer> | undefined;
  before(async () => {
    vt = await startVirusTotalStub({ objects: vtObjectBodies() });
    abuse = await startAbuseIpdbStub();
  });
  after(async () => {
    await vt?.close();
    await abuse?.close();
  });
  beforeEach(() => {
    if (vt !== undefined) vt.requests.length = 0;
    if (abuse !== undefined) abuse.requests.length = 0;
  });
  const started = <T>(stub: T | undefined): T => {
    if (stub === undefined) throw new Error('the reputation stubs start in a before hook; use them inside a test or hook');
    return stub;
  };
  return {
    get vt() {
      return started(vt);
    },
    get abuse() {
      return started(abuse);
    },
  };
}
