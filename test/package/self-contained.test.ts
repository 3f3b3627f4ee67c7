/**
 * The repository tests itself: no source, test, bench, build or CI file reaches outside the
 * clone for data (a sibling folder of design notes and copied data existed during development;
 * a user's clone has nothing beside it), and the committed Splunk facts the conf checks and the
 * search lint use are what their generator makes of Splunk's own text.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { parseConf } from '../support/conf-file';
import { checkConf, compileSpec } from '../support/conf-spec';
import { CORPUS, REPO_ROOT } from '../support/paths';
import { loadSpecFacts, loadSplReference, renderSpecFacts, specFactsFromFolder, splReferenceFromFolder, splunkSpec } from '../support/splunk-facts';

const SCANNED = ['src', 'test', 'bench', 'build', 'bin', 'docker', 'default', 'splunk_app', '.ci', 'package.json', 'tsconfig.json', '.mocharc.json', 'docker-compose.yml'];

/**
 * A reference that leaves the clone: a path climbing above the repository root (the root joined
 * with '..', or four levels up from a compiled test in out/test/<folder>/), or a path naming one
 * of the folders that really sit beside this checkout (a user's clone has none; a development
 * checkout may have some, whose names are read here rather than written down).
 */
function outsideReferences(siblings: readonly string[]): RegExp {
  const escaped = siblings.map((s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'));
  const climbs = [String.raw`\b(?:REPO_ROOT|REPO|repoRoot|repo|root)\s*,\s*'\.\.'`, String.raw`'\.\.(?:/\.\.){3}'`, String.raw`'\.\.'(?:\s*,\s*'\.\.'){3}`];
  const named = escaped.flatMap((s) => [String.raw`\.\./${s}\b`, String.raw`'\.\.'\s*,\s*'${s}'`]);
  return new RegExp([...climbs, ...named].join('|'));
}

const SIBLINGS = readdirSync(path.dirname(REPO_ROOT)).filter((name) => name !== path.basename(REPO_ROOT) && statSync(path.join(path.dirname(REPO_ROOT), name)).isDirectory());
const OUTSIDE = outsideReferences(SIBLINGS);

function filesBelow(rel: string): string[] {
  const abs = path.join(REPO_ROOT, rel);
  if (statSync(abs).isFile()) return [rel];
  return readdirSync(abs).flatMap((name) => (name === 'node_modules' ? [] : filesBelow(path.join(rel, name))));
}

describe('the repository is self-contained', () => {
  it('no source, test, bench, build or CI file refers to a folder beside the clone', () => {
    const offenders: string[] = [];
    for (const file of SCANNED.flatMap(filesBelow)) {
      if (file.startsWith(path.join('test', 'fixtures', 'corpus'))) continue; // third-party text, cited as published
      if (file === path.join('test', 'package', 'self-contained.test.ts')) continue; // its examples of what the check catches
      readFileSync(path.join(REPO_ROOT, file), 'utf8')
        .split('\n')
        .forEach((line, i) => {
          if (OUTSIDE.test(line)) offenders.push(`${file}:${i + 1}: ${line.trim()}`);
        });
    }
    assert.deepEqual(offenders, []);
  });

  it('the check finds such a reference (so the test above can fail)', () => {
    const check = outsideReferences(['design-notes']);
    assert.ok(check.test("const CORPUS = path.resolve(REPO_ROOT, '..', 'design-notes', 'corpus');"));
    assert.ok(check.test("const data = path.join(__dirname, '../../../..', 'corpus');"));
    assert.ok(check.test('see ../design-notes/corpus/sshd for the data'));
    assert.ok(!check.test("export const REPO_ROOT = path.resolve(__dirname, '../../..');"), 'the root itself is inside');
    assert.ok(!check.test("import { corpusPath } from '../support/paths';"));
    assert.ok(!check.test('the design notes of a cluster'));
  });

  it('every corpus folder says where its files come from, and lists exactly the files it holds', () => {
    for (const folder of readdirSync(CORPUS).filter((f) => statSync(path.join(CORPUS, f)).isDirectory())) {
      const sources = readFileSync(path.join(CORPUS, folder, 'SOURCES.md'), 'utf8');
      for (const file of readdirSync(path.join(CORPUS, folder)).filter((f) => f !== 'SOURCES.md')) {
        assert.ok(sources.includes(file), `${folder}/SOURCES.md names ${file}`);
      }
      assert.match(sources, /licen[cs]e/i, `${folder}/SOURCES.md gives the licence`);
    }
  });

  it('the CRLF log is stored byte for byte: the same lines as its LF twin, with CR before each LF', () => {
    const crlf = readFileSync(path.join(CORPUS, 'sshd', 'loghub_OpenSSH_2k.log'), 'latin1');
    const lf = readFileSync(path.join(CORPUS, 'sshd', 'loghub_SSH_2k.log'), 'latin1');
    assert.equal(crlf.split('\r\n').length, 2000);
    assert.equal(crlf.replace(/\r\n/g, '\n'), lf);
    assert.ok(!lf.endsWith('\n'), 'no final newline, as published');
  });
});

describe('Splunk facts (test/fixtures/splunk)', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'soar-facts-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('the spec facts are Splunk 10.2.3 and cover every .conf the app ships', () => {
    const facts = loadSpecFacts();
    assert.equal(facts.splunk_version, '10.2.3');
    const shipped = readdirSync(path.join(REPO_ROOT, 'default')).filter((f) => f.endsWith('.conf'));
    // The app's own .conf (soar_edr.conf) has no Splunk spec: its README/<conf>.spec declares it.
    const own = (conf: string): boolean => existsSync(path.join(REPO_ROOT, 'splunk_app', 'README', `${conf}.spec`)) && !facts.specs[conf];
    for (const conf of [...shipped, 'default.meta']) assert.ok(facts.specs[conf] || own(conf), `facts for ${conf}`);
    assert.ok(shipped.filter(own).every((conf) => conf === 'soar_edr.conf'), 'only the app\'s own conf may lack Splunk facts');
  });

  it('the generator reads stanzas, keys and placeholders the way the checker uses them, and the committed file is its rendering', () => {
    writeFileSync(
      path.join(dir, 'demo.conf.spec'),
      [
        '#   Version 10.2.3',
        '# documentation',
        'GLOBAL_KEY = <string>',
        '[tcp://<remote server>:<port>]',
        'index = <string>',
        '* The index.',
        '  indented = not a key',
        'EXTRACT-<class> = <regex>',
        'index = <string>',
        '[default]',
        '',
      ].join('\n'),
    );
    const facts = specFactsFromFolder(dir, 'a test folder');
    assert.equal(facts.splunk_version, '10.2.3');
    assert.deepEqual(facts.specs['demo.conf'], [
      { stanza: null, keys: ['GLOBAL_KEY'] },
      { stanza: 'tcp://<remote server>:<port>', keys: ['index', 'EXTRACT-<class>'] },
      { stanza: 'default', keys: [] },
    ]);
    const spec = compileSpec(facts.specs['demo.conf']!);
    const problems = checkConf('demo.conf', parseConf('[tcp://10.0.0.1:1514]\nindex = x\nEXTRACT-user = (?<user>\\w+)\nGLOBAL_KEY = 1\nindx = y\n[udp://514]\nindex = x\n'), [spec]);
    assert.deepEqual(problems.map((p) => p.message), ['key "indx" in [tcp://10.0.0.1:1514] is not in the spec', 'unknown stanza [udp://514]']);
    // the committed file has the generator's own layout (one section per line)
    const committed = readFileSync(path.join(REPO_ROOT, 'test', 'fixtures', 'splunk', 'spec-facts.json'), 'utf8');
    assert.equal(committed, renderSpecFacts(loadSpecFacts()));
  });

  it('the generator refuses a folder whose spec files name different Splunk versions, or none', () => {
    writeFileSync(path.join(dir, 'a.conf.spec'), '#   Version 10.2.3\n[x]\n');
    writeFileSync(path.join(dir, 'b.conf.spec'), '#   Version 9.4.0\n[y]\n');
    assert.throws(() => specFactsFromFolder(dir, 'test'), /several Splunk versions: 10\.2\.3, 9\.4\.0/);
    writeFileSync(path.join(dir, 'b.conf.spec'), '[y]\n');
    assert.throws(() => specFactsFromFolder(dir, 'test'), /b\.conf\.spec has no "#   Version x\.y\.z" header/);
  });

  it('the real facts reject an unknown key and an unknown stanza in shipped confs', () => {
    const props = splunkSpec('props.conf')!;
    assert.deepEqual(
      checkConf('props.conf', parseConf('[suspicious_traffic]\nSHOULD_LINEMERGE = false\nSHOULD_LINEMRGE = false\n'), [props]).map((p) => p.message),
      ['key "SHOULD_LINEMRGE" in [suspicious_traffic] is not in the spec'],
    );
    assert.deepEqual(
      checkConf('inputs.conf', parseConf('[tcp://1514]\nsourcetype = x\n[tcpp://1514]\nindex = x\n'), [splunkSpec('inputs.conf')!]).map((p) => p.message),
      ['unknown stanza [tcpp://1514]'],
    );
  });

  it('the SPL reference facts come from the reference tables and hold what the detections use', () => {
    writeFileSync(path.join(dir, 'README.md'), 'Splunk version: 10.2\n');
    writeFileSync(path.join(dir, 'commands.md'), '| `stats` | x |\n| `eval` | y |\n| not a name | z |\n');
    writeFileSync(path.join(dir, 'eval-text.md'), '| `lower` | x |\n');
    writeFileSync(path.join(dir, 'stat-aggregate.md'), '| `count` | x |\n| `sum` | x |\n');
    const demo = splReferenceFromFolder(dir, 'test');
    assert.deepEqual([demo.splunk_version, demo.commands, demo.eval_functions, demo.stats_functions], ['10.2', ['eval', 'stats'], ['lower'], ['count', 'sum']]);
    const real = loadSplReference();
    for (const c of ['search', 'stats', 'eval', 'eventstats', 'where', 'table', 'sort', 'fields']) assert.ok(real.commands.includes(c), c);
    for (const f of ['coalesce', 'match', 'ipmask', 'strftime', 'case', 'if']) assert.ok(real.eval_functions.includes(f), f);
    for (const f of ['sum', 'values', 'distinct_count', 'min', 'max', 'first']) assert.ok(real.stats_functions.includes(f), f);
  });
});
