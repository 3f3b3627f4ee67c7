/**
 * soar_edr.conf: the host's limits, layered default/ then local/, each bad value an
 * ERROR-worthy problem with the shipped value kept; and the action's field-name checks.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { DEFAULT_HOST_LIMITS } from '../../src/pipeline/settings';
import { parseActionConfig } from '../../src/splunk/action-config';
import { DEFAULT_ADDRESS_FIELDS } from '../../src/splunk/alert-address';
import { appDirFor, hostLimitsFromConf, parseConfText, readHostLimits } from '../../src/splunk/app-conf';

const PROTOTYPE_NAMES = ['constructor', '__proto__', 'toString', 'hasOwnProperty', 'valueOf', 'prototype', 'isPrototypeOf'];

describe('splunk/app-conf', () => {
  it('parses stanzas, comments, continued values; keys before a stanza are [default]', () => {
    const conf = parseConfText('top = 1\n# comment\n[quota]\nvt_requests_per_minute = 20\nlong = a\\\nb\n\n[blocking]\n  block_duration=2h  \nnot a setting\n');
    assert.equal(conf.get('default')?.get('top'), '1');
    assert.equal(conf.get('quota')?.get('vt_requests_per_minute'), '20');
    assert.equal(conf.get('quota')?.get('long'), 'a\nb');
    assert.equal(conf.get('blocking')?.get('block_duration'), '2h');
  });

  it('local/ wins over default/, key by key; an empty value keeps the layer below', () => {
    const r = hostLimitsFromConf([
      { file: 'default/soar_edr.conf', text: '[quota]\nvt_requests_per_minute = 4\nvt_requests_per_day = 500\n[blocking]\nblock_duration = 24h\nblock_max_duration = 30d\n' },
      { file: 'local/soar_edr.conf', text: '[quota]\nvt_requests_per_minute = 500\nvt_requests_per_day =\n[blocking]\nblock_max_duration = 60d\n' },
    ]);
    assert.deepEqual(r.problems, []);
    assert.deepEqual(r.limits, { ...DEFAULT_HOST_LIMITS, vtPerMinute: 500, vtPerDay: 500, blockMaxSeconds: 60 * 86400 });
  });

  it('a bad value is a problem naming file, stanza and key, and the shipped value applies; so is max < base', () => {
    const r = hostLimitsFromConf([{ file: 'local/soar_edr.conf', text: '[quota]\nvt_requests_per_minute = lots\nabuseipdb_requests_per_day = 0\n[blocking]\nblock_duration = 40d\nblock_max_duration = 2d\n' }]);
    assert.equal(r.problems.length, 3);
    assert.match(r.problems[0]!.message, /^local\/soar_edr\.conf \[quota\] vt_requests_per_minute: "lots" .*; using 4$/);
    assert.match(r.problems[1]!.message, /^local\/soar_edr\.conf \[quota\] abuseipdb_requests_per_day: "0" .*; using 1000$/);
    assert.match(r.problems[2]!.message, /\[blocking\] block_max_duration .* shorter than block_duration/);
    assert.ok(r.problems.every((p) => p.kind === 'invalid_setting'));
    assert.deepEqual([r.limits.vtPerMinute, r.limits.abusePerDay, r.limits.blockSeconds, r.limits.blockMaxSeconds], [4, 1000, 40 * 86400, 40 * 86400]);
  });

  it('reads default/ and local/ of the app folder: the bundle folder first, else $SPLUNK_HOME/etc/apps/soar_edr, else the data directory\'s file', () => {
    const home = mkdtempSync(path.join(tmpdir(), 'soar-appconf-'));
    try {
      const app = path.join(home, 'etc', 'apps', 'soar_edr');
      mkdirSync(path.join(app, 'default'), { recursive: true });
      mkdirSync(path.join(app, 'local'), { recursive: true });
      writeFileSync(path.join(app, 'default', 'soar_edr.conf'), '[quota]\nvt_requests_per_minute = 4\n');
      writeFileSync(path.join(app, 'local', 'soar_edr.conf'), '[quota]\nvt_requests_per_minute = 30\n');
      assert.equal(appDirFor({ SPLUNK_HOME: home }), app);
      assert.equal(appDirFor({}, path.join(app, 'bin')), app);
      assert.equal(appDirFor({ SPLUNK_HOME: '/elsewhere' }, path.join(app, 'bin')), app);
      assert.equal(appDirFor({}, '/usr/lib/node'), undefined);
      const read = readHostLimits(app);
      assert.equal(read.limits.vtPerMinute, 30);
      assert.deepEqual(read.files.map((f) => path.relative(app, f)), [path.join('default', 'soar_edr.conf'), path.join('local', 'soar_edr.conf')]);
      assert.deepEqual(readHostLimits(undefined), { limits: DEFAULT_HOST_LIMITS, problems: [], files: [] });
      assert.deepEqual(readHostLimits(path.join(home, 'missing')).limits, DEFAULT_HOST_LIMITS);
      // Outside Splunk: <data directory>/soar_edr.conf, only when there is no app folder.
      const data = path.join(home, 'data');
      mkdirSync(data);
      assert.deepEqual(readHostLimits(undefined, data).limits, DEFAULT_HOST_LIMITS);
      writeFileSync(path.join(data, 'soar_edr.conf'), '[quota]\nvt_requests_per_day = 20000\n[blocking]\nblock_duration = 2h\n');
      const outside = readHostLimits(undefined, data);
      assert.equal(outside.limits.vtPerDay, 20000);
      assert.equal(outside.limits.blockSeconds, 7200);
      assert.deepEqual(outside.files, [path.join(data, 'soar_edr.conf')]);
      assert.equal(readHostLimits(app, data).limits.vtPerDay, DEFAULT_HOST_LIMITS.vtPerDay, 'inside Splunk the app conf alone counts');
    } finally {
      rmSync(home, { recursive: true, force: true });
    }
  });
});

describe('splunk/action-config field names', () => {
  it('accepts Splunk field names, prototype-member names among them (they are ordinary names)', () => {
    for (const name of PROTOTYPE_NAMES.filter((n) => !n.startsWith('_'))) {
      const r = parseActionConfig({ address_fields: `${name},src_ip` });
      assert.deepEqual(r.problems, [], name);
      assert.deepEqual(r.config.addressFields, [name, 'src_ip']);
    }
    assert.deepEqual(parseActionConfig({ address_fields: 'All_Traffic.src_ip, dest:ip' }).config.addressFields, ['All_Traffic.src_ip', 'dest:ip']);
  });

  it('refuses names Splunk cannot have (leading _ or digit, other characters, over 128 characters), naming them; the defaults apply', () => {
    for (const bad of ['__proto__', '_time', '1st', 'src-ip', 'ip"', 'a'.repeat(129), 'x=y']) {
      const r = parseActionConfig({ address_fields: `src_ip,${bad}` });
      assert.equal(r.problems.length, 1, bad);
      assert.equal(r.problems[0]!.kind, 'invalid_param');
      assert.ok(r.problems[0]!.message.includes(JSON.stringify(bad.length > 40 ? `${bad.slice(0, 40)}…` : bad)), r.problems[0]!.message);
      assert.deepEqual(r.config.addressFields, DEFAULT_ADDRESS_FIELDS);
    }
    assert.ok(parseActionConfig({ address_fields: 'a'.repeat(128) }).problems.length === 0);
  });

  it('params named like prototype members are kept as ordinary params and change nothing else', () => {
    const configuration = JSON.parse(`{${PROTOTYPE_NAMES.map((n) => `"${n}":"v"`).join(',')},"log_level":"DEBUG"}`) as Record<string, string>;
    const r = parseActionConfig(configuration);
    assert.deepEqual(r.problems, []);
    assert.equal(r.config.logLevel, 'DEBUG');
    assert.deepEqual(Object.keys(r.config.params).sort(), [...PROTOTYPE_NAMES, 'log_level'].sort());
    assert.equal(r.config.params.constructor, 'v');
    assert.equal(Object.getPrototypeOf(r.config.params), null);
  });
});
