import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { forgetInstallKeys, INSTALL_KEY_FILE, installKey, seal, unseal } from '../../src/store/entry-seal';

describe('store: sealed entries (install key + HMAC)', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'soar-seal-'));
    forgetInstallKeys();
  });
  afterEach(() => {
    forgetInstallKeys();
    rmSync(dir, { recursive: true, force: true });
  });

  it('creates the install key once, mode 0600, and reuses it', () => {
    const old = process.umask(0);
    try {
      const a = installKey(dir);
      assert.ok(a.ok);
      const file = path.join(dir, INSTALL_KEY_FILE);
      assert.equal(statSync(file).mode & 0o777, 0o600);
      assert.match(readFileSync(file, 'utf8'), /^[0-9a-f]{64}\n$/);
      forgetInstallKeys();
      const b = installKey(dir);
      assert.ok(b.ok);
      assert.deepEqual(b.value, a.value);
    } finally {
      process.umask(old);
    }
  });

  it('refuses a key file that is a symlink, readable by others, or not a key', () => {
    const victim = path.join(dir, 'victim');
    writeFileSync(victim, 'a'.repeat(64) + '\n', { mode: 0o600 });
    symlinkSync(victim, path.join(dir, INSTALL_KEY_FILE));
    const linked = installKey(dir);
    assert.equal(linked.ok ? 'ok' : linked.error.kind, 'unsafe_key');
    rmSync(path.join(dir, INSTALL_KEY_FILE));
    writeFileSync(path.join(dir, INSTALL_KEY_FILE), 'b'.repeat(64) + '\n', { mode: 0o644 });
    chmodSync(path.join(dir, INSTALL_KEY_FILE), 0o644);
    const open = installKey(dir);
    assert.ok(!open.ok && /chmod 600/.test(open.error.message));
    chmodSync(path.join(dir, INSTALL_KEY_FILE), 0o600);
    writeFileSync(path.join(dir, INSTALL_KEY_FILE), 'not a key');
    const junk = installKey(dir);
    assert.equal(junk.ok ? 'ok' : junk.error.kind, 'unsafe_key');
  });

  it('an entry unseals with its key and purpose only; changed, unsealed or moved entries fail', () => {
    const key = installKey(dir);
    assert.ok(key.ok);
    const sealed = seal(key.value, 'outbox', { incidentId: 'x', payload: { content: 'hi' }, n: 1 });
    const back = unseal(key.value, 'outbox', JSON.parse(JSON.stringify(sealed)));
    assert.ok(back.ok);
    assert.deepEqual(back.value, { incidentId: 'x', payload: { content: 'hi' }, n: 1 });
    const changed = unseal(key.value, 'outbox', { ...sealed, payload: { content: 'forged' } });
    assert.equal(changed.ok ? 'ok' : changed.error.kind, 'bad_mac');
    const moved = unseal(key.value, 'queue', sealed);
    assert.equal(moved.ok ? 'ok' : moved.error.kind, 'bad_mac');
    const bare = unseal(key.value, 'outbox', { incidentId: 'x' });
    assert.equal(bare.ok ? 'ok' : bare.error.kind, 'unsealed');
    const otherKey = Buffer.alloc(32, 7);
    assert.equal(unseal(otherKey, 'outbox', sealed).ok, false);
  });
});
