/**
 * The search command's term language in the emulator (spl-search.ts): Splunk's precedence of
 * NOT, OR, AND, and the base search of the detections (macro soar_auth_events) deciding which
 * events of which index, sourcetype and source they read — including a local/macros.conf
 * override of soar_addon_indexes as the docs show it.
 */
import assert from 'node:assert/strict';
import { parseConf } from '../support/conf-file';
import { loadMacros } from './app-conf';
import { expandMacros, macroDefs } from './macros';
import { matchSearch, parseSearch, SearchSyntaxError } from './spl-search';

function matches(search: string, fields: Record<string, string | string[]>): boolean {
  const get = (f: string) => {
    const v = fields[f];
    return v === undefined ? [] : Array.isArray(v) ? v : [v];
  };
  return matchSearch(parseSearch(search).filter, get);
}

describe('detections: the search term language (spl-search.ts)', () => {
  it('evaluates NOT, then OR, then AND, as the search command does', () => {
    // a b OR c = a AND (b OR c): with a false, nothing matches
    assert.equal(matches('a=1 b=1 OR c=1', { a: '0', c: '1' }), false);
    assert.equal(matches('a=1 b=1 OR c=1', { a: '1', c: '1' }), true);
    assert.equal(matches('b=1 OR c=1 a=1', { c: '1', a: '0' }), false);
    assert.equal(matches('(a=1 b=1) OR c=1', { a: '0', c: '1' }), true);
    // NOT binds to the next term only
    assert.equal(matches('NOT a=1 OR b=1', { a: '1', b: '1' }), true);
    assert.equal(matches('NOT (a=1 OR b=1)', { a: '1', b: '0' }), false);
    assert.deepEqual(parseSearch('a=1 b=2 OR c=3 AND d=4').filter, {
      t: 'and',
      items: [
        { t: 'term', field: 'a', op: '=', value: '1' },
        { t: 'or', items: [{ t: 'term', field: 'b', op: '=', value: '2' }, { t: 'term', field: 'c', op: '=', value: '3' }] },
        { t: 'term', field: 'd', op: '=', value: '4' },
      ],
    });
  });

  it('matches quoted values with colons, tags and wildcards case-insensitively', () => {
    assert.equal(matches('source="WinEventLog:Security"', { source: 'WinEventLog:Security' }), true);
    assert.equal(matches('source="WinEventLog:Security"', { source: 'wineventlog:security' }), true);
    assert.equal(matches('source="WinEventLog:Security"', { source: 'WinEventLog:System' }), false);
    assert.equal(matches('tag=authentication', { tag: ['network', 'authentication'] }), true);
    assert.equal(matches('tag=authentication', {}), false);
    assert.equal(matches('source="*WinEventLog:Security"', { source: 'XmlWinEventLog:Security' }), true);
  });

  it('refuses an OR with a side missing or a time modifier as a side', () => {
    for (const bad of ['OR a=1', 'a=1 OR', 'a=1 OR OR b=1', '(a=1 OR) b=1', 'earliest=-5m OR a=1', 'a=1 OR latest=now']) {
      assert.throws(() => parseSearch(bad), SearchSyntaxError, bad);
    }
    assert.deepEqual(parseSearch('a=1 earliest=-15m latest=now').earliest, '-15m');
  });
});

describe('detections: which events the base search (soar_auth_events) reads', () => {
  const macros = loadMacros().defs;
  const base = (defs = macros) => expandMacros('`soar_auth_events`', defs).text;
  const reads = (fields: Record<string, string | string[]>, defs = macros) => matches(base(defs), fields);
  const auth = { tag: ['authentication'] };

  it("reads this app's sourcetype in its index", () => {
    assert.equal(reads({ index: 'security_logs', sourcetype: 'suspicious_traffic' }), true);
    assert.equal(reads({ index: 'main', sourcetype: 'suspicious_traffic' }), false);
  });

  it("reads CIM-tagged linux_secure and Windows Security events (classic, pre-5.0 sourcetype, XML) in the add-ons' indexes", () => {
    for (const index of ['main', 'os', 'wineventlog']) {
      assert.equal(reads({ ...auth, index, sourcetype: 'linux_secure', source: '/var/log/secure' }), true, index);
      assert.equal(reads({ ...auth, index, sourcetype: 'WinEventLog', source: 'WinEventLog:Security' }), true, index);
      assert.equal(reads({ ...auth, index, sourcetype: 'WinEventLog:Security', source: 'WinEventLog:Security' }), true, index);
      assert.equal(reads({ ...auth, index, sourcetype: 'XmlWinEventLog', source: 'XmlWinEventLog:Security' }), true, index);
    }
  });

  it('leaves out untagged events, other channels and sourcetypes, and other indexes', () => {
    assert.equal(reads({ index: 'os', sourcetype: 'linux_secure' }), false);
    assert.equal(reads({ ...auth, index: 'wineventlog', sourcetype: 'WinEventLog', source: 'WinEventLog:System' }), false);
    assert.equal(reads({ ...auth, index: 'main', sourcetype: 'syslog' }), false);
    assert.equal(reads({ ...auth, index: 'linux', sourcetype: 'linux_secure' }), false);
  });

  it('follows a local/macros.conf override of soar_addon_indexes (the documented way to point it at other indexes)', () => {
    const local = macroDefs(parseConf('[soar_addon_indexes]\ndefinition = (index=linux OR index=win_sec)\n')).defs;
    const merged = new Map([...macros, ...local]);
    assert.equal(reads({ ...auth, index: 'linux', sourcetype: 'linux_secure' }, merged), true);
    assert.equal(reads({ ...auth, index: 'win_sec', sourcetype: 'XmlWinEventLog', source: 'XmlWinEventLog:Security' }, merged), true);
    assert.equal(reads({ ...auth, index: 'os', sourcetype: 'linux_secure' }, merged), false);
    // the app's own data does not depend on it
    assert.equal(reads({ index: 'security_logs', sourcetype: 'suspicious_traffic' }, merged), true);
  });

  it('keeps its parentheses: terms a detection appends apply to both sources', () => {
    const search = `${base()} action=failure`;
    assert.equal(matches(search, { index: 'security_logs', sourcetype: 'suspicious_traffic', action: 'success' }), false);
    assert.equal(matches(search, { ...auth, index: 'os', sourcetype: 'linux_secure', action: 'success' }), false);
    assert.equal(matches(search, { ...auth, index: 'os', sourcetype: 'linux_secure', action: 'failure' }), true);
  });
});
