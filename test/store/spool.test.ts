/**
 * The spool store on its own: put (copy through the descriptor + sealed entry), claims as
 * the outbox takes them (one winner, stale claims of dead processes put back, live ones
 * left), checkpoint/release keep the index reached, and entries are checked as data even
 * when their MAC is right.
 */
import assert from 'node:assert/strict';
import { closeSync, existsSync, mkdtempSync, openSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { dataLayout } from '../../src/store/data-dir';
import { forgetInstallKeys, installKey, seal } from '../../src/store/entry-seal';
import { SpoolContext, spoolStore } from '../../src/store/spool';

const CONTEXT: SpoolContext = {
  sid: 'scheduler__admin__search__RMD5x_at_1_1',
  searchName: 'SOAR-EDR - SSH Brute Force',
  app: 'search',
  owner: 'admin',
  resultsLink: 'http://splunk:8000/app/search/@go?sid=x',
  configuration: { time_budget: '10s' },
  mode: 'digest',
  baseRid: null,
};

describe('store/spool', () => {
  let root: string;
  let source: string;
  beforeEach(() => {
    root = mkdtempSync(path.join(tmpdir(), 'soar-spool-unit-'));
    source = path.join(root, 'results.csv.gz');
    writeFileSync(source, Buffer.from([0x1f, 0x8b, 1, 2, 3, 4]));
    forgetInstallKeys();
  });
  afterEach(() => rmSync(root, { recursive: true, force: true }));

  function put(store = spoolStore(dataLayout(root))): string {
    const fd = openSync(source, 'r');
    try {
      const r = store.put(fd, true, CONTEXT, 700, 1000);
      assert.ok(r.ok, JSON.stringify(r));
      return r.ok ? r.value : '';
    } finally {
      closeSync(fd);
    }
  }

  it('put copies the file through its descriptor and writes a sealed entry without credentials', () => {
    const file = put();
    const entry = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
    assert.match(String(entry.mac), /^[0-9a-f]{64}$/);
    assert.deepEqual([entry.sid, entry.resumeIndex, entry.indexes, entry.mode], [CONTEXT.sid, 700, 1000, 'digest']);
    assert.ok(!('sessionKey' in entry) && !('serverUri' in entry));
    assert.deepEqual(readFileSync(path.join(root, 'spool', String(entry.copy))), readFileSync(source));
  });

  it('one claimant wins; a live claim stays; a dead process\'s claim is put back and resumes where it was checkpointed', () => {
    put();
    const a = spoolStore(dataLayout(root));
    const b = spoolStore(dataLayout(root));
    const first = a.claimNext();
    assert.equal(first?.status, 'claimed');
    assert.equal(b.claimNext(), undefined, 'nothing left to claim');
    assert.equal(b.recoverStale(), 0, 'a live process keeps its claim');
    if (first?.status !== 'claimed') return;
    a.checkpoint(first.claim, 850);
    // The process dies: its claim names a pid that does not run.
    const claimed = path.join(root, 'spool', 'claimed');
    const [name] = readdirSync(claimed);
    renameSync(path.join(claimed, name!), path.join(claimed, name!.replace(`.${process.pid}.`, '.999999999.')));
    assert.equal(b.recoverStale(), 1);
    const again = b.claimNext();
    assert.ok(again?.status === 'claimed');
    if (again?.status === 'claimed') {
      assert.equal(again.claim.entry.resumeIndex, 850);
      b.release(again.claim, 900);
      const back = b.claimNext();
      assert.ok(back?.status === 'claimed' && back.claim.entry.resumeIndex === 900);
      if (back?.status === 'claimed') b.complete(back.claim);
    }
    assert.deepEqual(readdirSync(path.join(root, 'spool')), ['claimed'], 'entry and copy removed');
  });

  it('an entry with a valid MAC is still checked as data: a copy outside the spool is refused', () => {
    const file = put();
    const key = installKey(root);
    assert.ok(key.ok);
    const { mac: _mac, ...entry } = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
    if (key.ok) writeFileSync(file, JSON.stringify(seal(key.value, 'spool', { ...entry, copy: '../incidents.csv' })));
    const r = spoolStore(dataLayout(root)).claimNext();
    assert.equal(r?.status, 'refused');
    if (r?.status === 'refused') {
      assert.match(r.reason, /copy that is not its own file/);
      assert.ok(r.deadLetter !== undefined && existsSync(r.deadLetter));
    }
    assert.ok(!readdirSync(path.join(root, 'spool')).some((n) => n.endsWith('.json')), 'not left to be tried again');
  });
});
