import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { confineResultsFile, resultsRoots } from '../../src/cli/replay-command';
import { dataLayout } from '../../src/store/data-dir';

describe('cli/replay: where a replayed results_file may come from', () => {
  let root: string;
  let dispatch: string;
  beforeEach(() => {
    root = mkdtempSync(path.join(tmpdir(), 'soar-confine-'));
    dispatch = path.join(root, 'splunk', 'var', 'run', 'splunk', 'dispatch');
    mkdirSync(path.join(dispatch, 'sid1'), { recursive: true });
    writeFileSync(path.join(dispatch, 'sid1', 'results.csv.gz'), '');
    writeFileSync(path.join(root, 'private.csv'), 'secret');
  });
  afterEach(() => rmSync(root, { recursive: true, force: true }));

  it('takes files inside dispatch or the spool (also not yet written), refuses everything else', () => {
    const layout = dataLayout(path.join(root, 'data'));
    mkdirSync(layout.spool, { recursive: true });
    const roots = resultsRoots({ SPLUNK_HOME: path.join(root, 'splunk') }, layout);
    assert.equal(roots.length, 2);
    assert.deepEqual(confineResultsFile(path.join(dispatch, 'sid1', 'results.csv.gz'), roots), { ok: true, value: path.join(dispatch, 'sid1', 'results.csv.gz') });
    assert.ok(confineResultsFile(path.join(dispatch, 'sid2', 'later.csv.gz'), roots).ok, 'a file that is not there yet, inside dispatch');
    assert.ok(confineResultsFile(path.join(layout.spool, 'x.json'), roots).ok);
    symlinkSync(path.join(root, 'private.csv'), path.join(dispatch, 'sid1', 'link.csv'));
    symlinkSync(root, path.join(dispatch, 'up'));
    const refused: [string, RegExp][] = [
      [path.join(root, 'private.csv'), /outside/],
      [path.join(dispatch, 'sid1', 'link.csv'), /outside/],
      [path.join(dispatch, 'up', 'private.csv'), /outside/],
      [`${dispatch}/sid1/../../../../../../private.csv`, /climbs out/],
      ['relative/results.csv', /absolute/],
      ['/etc/passwd', /outside/],
      [`${dispatch}-evil/x.csv`, /outside/],
    ];
    for (const [file, why] of refused) {
      const r = confineResultsFile(file, roots);
      assert.ok(!r.ok && why.test(r.error.message), `${file}: ${JSON.stringify(r)}`);
    }
    assert.ok(!confineResultsFile(path.join(dispatch, 'sid1', 'results.csv.gz'), []).ok, 'no roots: nothing is taken');
  });
});
