import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { dataLayout } from '../../src/store/data-dir';
import { fileState } from '../../src/state/file-state';
import { sharedStateContract } from './shared-state.contract';

sharedStateContract('file store (two processes on one host)', async () => {
  const root = mkdtempSync(path.join(tmpdir(), 'soar-state-'));
  const layout = dataLayout(root);
  return {
    a: fileState(layout),
    b: fileState(layout),
    cleanup: async () => rmSync(root, { recursive: true, force: true }),
  };
});
