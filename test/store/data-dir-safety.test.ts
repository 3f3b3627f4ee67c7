import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { checkDataDir, DataDirProbe, EntryStat, KNOWN_DIRS, KNOWN_FILES, prepareDataDir, systemProbe } from '../../src/store/data-dir-safety';
import { appendDurably, ensureDir, readTextIfExists, writeFileAtomic } from '../../src/store/durable-file';
import { forgetInstallKeys } from '../../src/store/entry-seal';

/** A file system of `entries` (path → stat) seen by a process running as `uid`. */
function fakeProbe(entries: Record<string, EntryStat>, uid: number, links: Record<string, string> = {}): DataDirProbe {
  return {
    lstat: (p) => entries[p],
    realpath: (p) => links[p] ?? (entries[p] ? p : undefined),
    uid,
  };
}

const dir = (uid = 1000, mode = 0o40750): EntryStat => ({ kind: 'dir', mode, uid });
const file = (uid = 1000, mode = 0o100640): EntryStat => ({ kind: 'file', mode, uid });

describe('store: the data directory is ours alone', () => {
  describe('checkDataDir (pure, with a fake stat)', () => {
    it('accepts a private directory and a missing one; resolves an admin\'s link to the real directory once', () => {
      assert.deepEqual(checkDataDir('/data', fakeProbe({ '/data': dir(), '/data/incidents.csv': file(), '/data/reports': dir() }, 1000)), { ok: true, value: '/data' });
      assert.deepEqual(checkDataDir('/data', fakeProbe({}, 1000)), { ok: true, value: undefined });
      const linked = checkDataDir('/opt/splunk/var/lib/soar_edr', fakeProbe({ '/srv/soar': dir() }, 1000, { '/opt/splunk/var/lib/soar_edr': '/srv/soar' }));
      assert.deepEqual(linked, { ok: true, value: '/srv/soar' });
    });

    it('refuses a directory writable by others, naming chmod o-w', () => {
      const r = checkDataDir('/data', fakeProbe({ '/data': dir(1000, 0o40777) }, 1000));
      assert.ok(!r.ok);
      assert.equal(r.error.kind, 'unsafe_data_dir');
      assert.match(r.error.message, /\/data is writable by others \(mode 0777\): chmod o-w \/data/);
    });

    it('refuses a directory owned by another user, naming chown', () => {
      const r = checkDataDir('/data', fakeProbe({ '/data': dir(0) }, 1000));
      assert.ok(!r.ok && /owned by uid 0, not by uid 1000 .*chown 1000 \/data/.test(r.error.message), JSON.stringify(r));
    });

    it('refuses each known file and folder when it is a link, of the wrong type, writable by others or foreign-owned', () => {
      const known = [...KNOWN_DIRS.map((n) => [n, 'dir'] as const), ...KNOWN_FILES.map((n) => [n, 'file'] as const)];
      for (const [name, kind] of known) {
        const p = `/data/${name}`;
        const good = kind === 'dir' ? dir() : file();
        const wrongType: EntryStat = kind === 'dir' ? file() : dir();
        const cases: [EntryStat, RegExp][] = [
          [{ kind: 'symlink', mode: 0o120777, uid: 1000 }, /is a symbolic link.*rm /],
          [wrongType, /not a (directory|regular file)/],
          [{ ...good, mode: good.mode | 0o002 }, /writable by others.*chmod o-w/],
          [{ ...good, uid: 4242 }, /owned by uid 4242/],
        ];
        for (const [st, message] of cases) {
          const entries: Record<string, EntryStat> = { '/data': dir(), [p]: st };
          // Parents of a nested known folder exist and are fine.
          if (name.includes('/')) entries[`/data/${name.split('/')[0]}`] = dir();
          const r = checkDataDir('/data', fakeProbe(entries, 1000));
          assert.ok(!r.ok, `${name}: ${st.kind} ${st.mode.toString(8)} uid ${st.uid} accepted`);
          assert.ok(r.error.message.includes(p) && message.test(r.error.message), `${name}: ${r.error.message}`);
        }
      }
    });

    it('refuses a path that cannot be resolved (a link loop)', () => {
      const probe: DataDirProbe = { ...fakeProbe({}, 1000), realpath: () => { throw Object.assign(new Error('loop'), { code: 'ELOOP' }); } };
      const r = checkDataDir('/data', probe);
      assert.ok(!r.ok && /ELOOP/.test(r.error.message));
    });
  });

  describe('on disk', () => {
    let root: string;
    beforeEach(() => {
      root = mkdtempSync(path.join(tmpdir(), 'soar-dd-'));
      forgetInstallKeys();
    });
    afterEach(() => {
      forgetInstallKeys();
      rmSync(root, { recursive: true, force: true });
    });

    it('prepareDataDir creates a missing directory 0750 whatever the umask, with its key; a refusal writes nothing', () => {
      const data = path.join(root, 'a', 'b', 'data');
      const old = process.umask(0);
      try {
        const r = prepareDataDir(data);
        assert.ok(r.ok, JSON.stringify(r));
        for (const d of [path.join(root, 'a'), path.join(root, 'a', 'b'), data]) assert.equal(statSync(d).mode & 0o777, 0o750, d);
        assert.equal(statSync(path.join(data, 'install.key')).mode & 0o777, 0o600);
      } finally {
        process.umask(old);
      }
      const open = path.join(root, 'open');
      mkdirSync(open);
      chmodSync(open, 0o777);
      const refused = prepareDataDir(open);
      assert.ok(!refused.ok && refused.error.kind === 'unsafe_data_dir');
      assert.deepEqual(readdirSync(open), [], 'no key, no folder');
    });

    it('ensureDir, writeFileAtomic and appendDurably under umask 000: folders 0750, files 0640', () => {
      const old = process.umask(0);
      try {
        ensureDir(path.join(root, 'x', 'y'));
        writeFileAtomic(path.join(root, 'x', 'y', 'f.json'), '{}');
        appendDurably(path.join(root, 'z', 'rows.csv'), 'a\n');
      } finally {
        process.umask(old);
      }
      assert.equal(statSync(path.join(root, 'x')).mode & 0o777, 0o750);
      assert.equal(statSync(path.join(root, 'x', 'y')).mode & 0o777, 0o750);
      assert.equal(statSync(path.join(root, 'z')).mode & 0o777, 0o750);
      assert.equal(statSync(path.join(root, 'x', 'y', 'f.json')).mode & 0o777, 0o640);
      assert.equal(statSync(path.join(root, 'z', 'rows.csv')).mode & 0o777, 0o640);
    });

    it('data files are never opened through a link: appends and reads refuse, the victim is untouched', () => {
      const victim = path.join(root, 'victim.txt');
      writeFileSync(victim, 'precious\n');
      const link = path.join(root, 'incidents.csv');
      symlinkSync(victim, link);
      assert.throws(() => appendDurably(link, 'row\n'), /ELOOP/);
      assert.throws(() => readTextIfExists(link), /ELOOP/);
      assert.equal(readTextIfExists(victim), 'precious\n');
    });

    it('the real check sees a planted link among the known files', () => {
      writeFileSync(path.join(root, 'victim'), 'x');
      symlinkSync(path.join(root, 'victim'), path.join(root, 'blocklist.csv'));
      const r = checkDataDir(root, systemProbe);
      assert.ok(!r.ok && /blocklist\.csv is a symbolic link/.test(r.error.message));
      assert.ok(!existsSync(path.join(root, 'install.key')));
    });
  });
});
