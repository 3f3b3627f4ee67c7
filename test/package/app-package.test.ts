/**
 * The built package dist/soar_edr-<version>.tgz: layout, modes, no secrets, and every key of
 * every packaged .conf valid against Splunk 10.2.3's spec facts (test/fixtures/splunk/spec-facts.json) or the
 * app's own README/*.spec.
 */
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import * as path from 'node:path';
import * as tar from 'tar';
import { parseConf, stanzaMap } from '../support/conf-file';
import { checkConf, SpecSection } from '../support/conf-spec';
import { packagePath, packageVersion } from '../support/paths';
import { specsFor, splunkSpec } from '../support/splunk-facts';
import { parseActionConfig } from '../../src/splunk/action-config';
import { DEFAULT_SETTINGS, parsePipelineSettings } from '../../src/pipeline/settings';
import { actionConfiguration, InstalledApp, installApp } from '../support/splunkd-emulator';

interface Entry {
  path: string;
  mode: number;
  type: string;
}

async function listPackage(): Promise<Entry[]> {
  const entries: Entry[] = [];
  await tar.t({ file: packagePath(), onReadEntry: (e) => entries.push({ path: e.path, mode: e.mode ?? 0, type: e.type }) });
  return entries;
}

function walk(dir: string): string[] {
  return readdirSync(dir).flatMap((n) => {
    const p = path.join(dir, n);
    return statSync(p).isDirectory() ? walk(p) : [p];
  });
}

const SEMVER = /^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-[0-9A-Za-z-.]+)?(?:\+[0-9A-Za-z-.]+)?$/;

describe('app package', function () {
  this.timeout(30_000);
  let entries: Entry[];
  let app: InstalledApp;
  const read = (rel: string) => readFileSync(path.join(app.appDir, rel), 'utf8');

  before(async () => {
    entries = await listPackage();
    app = await installApp();
  });
  after(() => rmSync(app.splunkHome, { recursive: true, force: true }));

  it('holds the app layout of DESIGN.md §6 under one top directory soar_edr/', () => {
    const files = new Set(entries.filter((e) => e.type === 'File').map((e) => e.path));
    for (const f of [
      'app.manifest',
      'LICENSE',
      'bin/soar_response.sh',
      'bin/soar_response.cmd',
      'bin/soar_response_main.cjs',
      'bin/vendor/splunk-sdk.cjs',
      'bin/vendor/xml2js.cjs',
      'default/app.conf',
      'default/alert_actions.conf',
      'default/indexes.conf',
      'default/inputs.conf',
      'default/props.conf',
      'default/data/ui/alerts/soar_response.html',
      'metadata/default.meta',
      'README/alert_actions.conf.spec',
      'README/savedsearches.conf.spec',
      'appserver/static/soar_response.png',
    ]) {
      assert.ok(files.has(`soar_edr/${f}`), `missing soar_edr/${f}`);
    }
    assert.ok(entries.every((e) => e.path === 'soar_edr/' || e.path.startsWith('soar_edr/')));
    assert.ok(!entries.some((e) => /^soar_edr\/local(\/|$)/.test(e.path)), 'no local/');
    assert.ok(!entries.some((e) => e.path.endsWith('metadata/local.meta')), 'no local.meta');
    assert.ok(!entries.some((e) => e.path.includes('node_modules')), 'no runtime node_modules');
  });

  it('sets execute bits only in bin/ (755 launchers, 644 elsewhere)', () => {
    for (const e of entries.filter((x) => x.type === 'File')) {
      const exec = (e.mode & 0o111) !== 0;
      if (/^soar_edr\/bin\/soar_response\.(sh|cmd)$/.test(e.path)) assert.equal(e.mode & 0o777, 0o755, e.path);
      else assert.ok(!exec, `${e.path} must not be executable`);
    }
  });

  it('contains no secret: no webhook URL, API key, password or session key', () => {
    const patterns = [
      /discord(app)?\.com\/api\/webhooks\/\d{17,20}\/[\w-]{40,}/i,
      /\b[0-9a-f]{80}\b/, // AbuseIPDB key shape
      /^\s*(password|clear_password|session_key)\s*=\s*\S/im,
      /param\.(virustotal_api_key|abuseipdb_api_key|discord_webhook_url)\s*=\s*\S/,
    ];
    for (const file of walk(app.appDir).filter((f) => !f.endsWith('.png'))) {
      const text = readFileSync(file, 'utf8');
      for (const p of patterns) assert.ok(!p.test(text), `${path.relative(app.appDir, file)} matches ${p}`);
    }
  });

  it('app.conf: id, SemVer version equal to package.json and app.manifest, positive build, not configured', () => {
    const conf = stanzaMap(read('default/app.conf'));
    const version = packageVersion();
    assert.equal(conf.get('package')!.get('id'), 'soar_edr');
    assert.equal(conf.get('id')!.get('name'), 'soar_edr');
    assert.match(conf.get('launcher')!.get('version')!, SEMVER);
    assert.equal(conf.get('launcher')!.get('version'), version);
    assert.equal(conf.get('id')!.get('version'), version);
    assert.match(conf.get('install')!.get('build')!, /^[1-9]\d*$/);
    assert.equal(conf.get('install')!.get('is_configured'), 'false');
    assert.ok(conf.get('launcher')!.get('description')!.length > 20);
    assert.ok(conf.get('launcher')!.get('author'));
    const label = conf.get('ui')!.get('label')!;
    assert.ok(label.length >= 5 && label.length <= 80);
    assert.match(conf.get('ui')!.get('is_visible')!, /^(true|false)$/);
    const manifest = JSON.parse(read('app.manifest')) as { info: { id: { name: string; version: string } } };
    assert.deepEqual([manifest.info.id.name, manifest.info.id.version], ['soar_edr', version]);
  });

  describe('every packaged .conf key is in the Splunk 10.2.3 spec or the app README spec', () => {
    const specFor = (conf: string): SpecSection[][] => specsFor(conf, path.join(app.appDir, 'README'));
    it('validator catches an unknown key and an unknown stanza (so the real check can fail)', () => {
      const problems = checkConf('alert_actions.conf', parseConf('[soar_response]\nis_custom = 1\nparam.nope = 1\nmaxtme = 5m\n'), specFor('alert_actions.conf'));
      assert.deepEqual(problems.map((p) => p.message), ['key "param.nope" in [soar_response] is not in the spec', 'key "maxtme" in [soar_response] is not in the spec']);
      assert.equal(checkConf('app.conf', parseConf('[packages]\nid = x\n'), specFor('app.conf'))[0]!.message, 'unknown stanza [packages]');
      assert.equal(checkConf('inputs.conf', parseConf('[tcp://1514]\nindex = x\nsource_type = y\n'), specFor('inputs.conf')).length, 1);
    });
    it('default/*.conf and metadata/default.meta', () => {
      const confs = readdirSync(path.join(app.appDir, 'default')).filter((f) => f.endsWith('.conf'));
      assert.ok(confs.length >= 5);
      const problems = confs.flatMap((conf) => {
        assert.ok(splunkSpec(conf) || existsSync(path.join(app.appDir, 'README', `${conf}.spec`)), `no Splunk spec and no README/${conf}.spec for ${conf}`);
        return checkConf(conf, parseConf(read(`default/${conf}`)), specFor(conf), { anyStanza: conf === 'indexes.conf' });
      });
      problems.push(...checkConf('default.meta', parseConf(read('metadata/default.meta')), [splunkSpec('default.meta')!], { anyStanza: true }));
      assert.deepEqual(problems, []);
    });
  });

  it('alert_actions.conf [soar_response]: custom JSON action with label, description, icon, maxtime and every param declared', () => {
    const s = app.actionStanza;
    assert.equal(s.get('is_custom'), '1');
    assert.equal(s.get('payload_format'), 'json');
    assert.ok(s.get('label') && s.get('description'));
    assert.match(s.get('maxtime')!, /^\d+[smhd]?$/);
    assert.ok(!s.has('alert.execute.cmd'), 'discovery by stanza name passes --execute; alert.execute.cmd would not');
    const png = readFileSync(path.join(app.appDir, 'appserver', 'static', s.get('icon_path')!));
    assert.deepEqual([...png.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
    const params = [...s.keys()].filter((k) => k.startsWith('param.')).map((k) => k.slice(6));
    assert.ok(params.length > 0);
    const aaSpec = read('README/alert_actions.conf.spec');
    const ssSpec = read('README/savedsearches.conf.spec');
    for (const p of params) {
      assert.match(aaSpec, new RegExp(`^param\\.${p} = .+\\n(?:[*\\s].*\\n)*?\\* Default: `, 'm'), `param.${p} documented with its default`);
      assert.match(ssSpec, new RegExp(`^action\\.soar_response\\.param\\.${p} = `, 'm'), `action.soar_response.param.${p} declared`);
    }
  });

  it('the packaged param defaults are valid and equal the documented defaults of the code', () => {
    const configuration = actionConfiguration(app);
    const contract = parseActionConfig(configuration);
    assert.deepEqual(contract.problems, []);
    const pipeline = parsePipelineSettings(contract.config.params);
    assert.deepEqual(pipeline.problems, []);
    assert.deepEqual(pipeline.settings, DEFAULT_SETTINGS);
  });

  it('the alert form has one control per param, named action.soar_response.param.<name>, static HTML only', () => {
    const html = read('default/data/ui/alerts/soar_response.html');
    const names = [...html.matchAll(/\bname="([^"]+)"/g)].map((m) => m[1]!).sort();
    // param.mode is not an alert's setting: only the maintenance search passes it (to sendalert).
    const params = [...app.actionStanza.keys()].filter((k) => k.startsWith('param.') && k !== 'param.mode').map((k) => `action.soar_response.${k}`).sort();
    assert.ok(app.actionStanza.has('param.mode'));
    assert.deepEqual(names, params);
    assert.doesNotMatch(html, /<script|\son[a-z]+\s*=|javascript:/i);
    for (const name of names) assert.match(html, new RegExp(`name="${name.replace(/\./g, '\\.')}"[^>]*>[\\s\\S]*?class="help-block"`), `${name} has help text`);
  });

  it('exports the alert action, and the search-time knowledge every other app needs, to all apps', () => {
    const meta = stanzaMap(read('metadata/default.meta'));
    assert.equal(meta.get('alert_actions/soar_response')?.get('export'), 'system');
    // Every search-time conf the app ships (extractions, CIM event types and tags, macros) is exported.
    const searchTime = ['props', 'transforms', 'eventtypes', 'tags', 'macros'].filter((c) => existsSync(path.join(app.appDir, 'default', `${c}.conf`)));
    assert.deepEqual(searchTime, ['props', 'transforms', 'eventtypes', 'tags', 'macros']);
    for (const c of searchTime) assert.equal(meta.get(c)?.get('export'), 'system', `[${c}] export = system`);
    // The scheduled searches stay the app's own (they run in it).
    assert.equal(meta.get('savedsearches')?.get('export'), undefined);
  });

  it('indexes.conf and inputs.conf provision index security_logs and TCP 1514', () => {
    const idx = stanzaMap(read('default/indexes.conf')).get('security_logs')!;
    for (const k of ['homePath', 'coldPath', 'thawedPath']) assert.match(idx.get(k)!, /^\$SPLUNK_DB\/security_logs\//);
    assert.match(idx.get('frozenTimePeriodInSecs')!, /^\d+$/);
    assert.match(idx.get('maxTotalDataSizeMB')!, /^\d+$/);
    const input = stanzaMap(read('default/inputs.conf')).get('tcp://1514')!;
    assert.deepEqual([input.get('index'), input.get('sourcetype'), input.get('connection_host')], ['security_logs', 'suspicious_traffic', 'ip']);
  });

  it("props.conf extracts the seeds' key=value fields (regexes run as JavaScript)", () => {
    const props = stanzaMap(read('default/props.conf')).get('suspicious_traffic')!;
    const extracts = [...props].filter(([k]) => k.startsWith('EXTRACT-')).map(([, v]) => new RegExp(v));
    const extract = (line: string) => {
      const out: Record<string, string> = {};
      for (const re of extracts) {
        const m = re.exec(line);
        for (const [k, v] of Object.entries(m?.groups ?? {})) if (v !== undefined) out[k] = v;
      }
      return out;
    };
    // The seed generator's lines (seeds/000), failed and success.
    assert.deepEqual(extract("2026-11-24 10:15:02 event_type=ssh_failed src_ip=203.0.113.42 user=root reason='password check failed'"), {
      event_type: 'ssh_failed',
      src_ip: '203.0.113.42',
      user: 'root',
      reason: 'password check failed',
    });
    assert.deepEqual(extract("2026-11-24 10:15:09 event_type=ssh_success src_ip=2001:db8::7 user=service_account reason='password accepted'"), {
      event_type: 'ssh_success',
      src_ip: '2001:db8::7',
      user: 'service_account',
      reason: 'password accepted',
    });
  });
});
