import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { dataLayout } from '../../src/store/data-dir';
import { kvStoreClient } from '../../src/store/kvstore-client';
import { kvState } from '../../src/state/kv-state';
import { startKvStoreStub } from '../support/kvstore-stub';
import { sharedStateContract } from './shared-state.contract';

sharedStateContract('KV store (two members, one KV store stub)', async () => {
  const stub = await startKvStoreStub();
  const roots = [mkdtempSync(path.join(tmpdir(), 'soar-kv-a-')), mkdtempSync(path.join(tmpdir(), 'soar-kv-b-'))];
  const member = (root: string) => kvState(kvStoreClient({ baseUrl: stub.url, sessionKey: stub.sessionKey }), dataLayout(root));
  const a = member(roots[0]!);
  const b = member(roots[1]!);
  return {
    a,
    b,
    cleanup: async () => {
      a.close();
      b.close();
      await stub.close();
      for (const r of roots) rmSync(r, { recursive: true, force: true });
    },
  };
});
