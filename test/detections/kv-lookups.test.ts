/**
 * The KV store collections and their lookups: collections.conf, transforms.conf and
 * metadata/default.meta agree, and searches over the lookups pass the search lint.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { stanzaMap } from '../support/conf-file';
import { REPO_ROOT } from '../support/paths';
import { ADDON_FIELDS } from './addon-events';
import { INDEX, loadLookups, loadMacros, loadSearchTime, readConf, SOURCETYPE, stanzaEntries } from './app-conf';
import { knownFields } from './search-time';
import { lintSearch, SearchLintOptions, splReference } from './search-lint';

/** What issue 12 asks each collection to hold (more fields may follow). */
const REQUIRED_FIELDS: Readonly<Record<string, readonly string[]>> = {
  soar_blocklist: ['ip', 'first_seen', 'last_seen', 'expires', 'count', 'verdict', 'reason', 'status'],
  soar_intel: ['ip', 'verdict', 'fetched', 'expires'],
  soar_incidents: ['incident_id', 'sid', 'rid', 'time', 'verdict', 'status', 'discord_message_id'],
};
/** Collections of the app's own bookkeeping: no lookup over them. */
const INTERNAL_COLLECTIONS: Readonly<Record<string, readonly string[]>> = {
  soar_state: ['kind', 'provider', 'expires_ms', 'created_ms'],
};
const FIELD_TYPES = new Set(['number', 'bool', 'string', 'time']);
/** Field names that would mean a secret is kept in a collection every role can read. */
const SECRET_NAME = /(password|passwd|secret|token|session|api_?key$|webhook)/i;

function collections(): Map<string, Map<string, string>> {
  return new Map(readConf('collections.conf').map((s) => [s.name, stanzaEntries(s)]));
}

function fieldsOf(collection: Map<string, string>): string[] {
  return [...collection.keys()].filter((k) => k.startsWith('field.')).map((k) => k.slice('field.'.length));
}

describe('KV store collections and lookups', () => {
  it('collections.conf defines soar_blocklist, soar_intel and soar_incidents with the fields they must hold, each typed', () => {
    const cs = collections();
    assert.deepEqual([...cs.keys()].sort(), [...Object.keys(REQUIRED_FIELDS), ...Object.keys(INTERNAL_COLLECTIONS)].sort());
    for (const [name, required] of Object.entries({ ...REQUIRED_FIELDS, ...INTERNAL_COLLECTIONS })) {
      const c = cs.get(name)!;
      const fields = fieldsOf(c);
      for (const f of required) assert.ok(fields.includes(f), `${name} lacks field.${f}`);
      for (const f of fields) {
        assert.ok(FIELD_TYPES.has(c.get(`field.${f}`)!), `${name} field.${f} = ${c.get(`field.${f}`)} is not number|bool|string|time`);
        assert.doesNotMatch(f, SECRET_NAME, `${name}.${f} looks like a secret`);
      }
      for (const t of ['first_seen', 'last_seen', 'expires', 'fetched', 'time']) if (fields.includes(t)) assert.equal(c.get(`field.${t}`), 'time', `${name}.${t}`);
    }
  });

  it('every accelerated_fields value is a JSON object of the collection\'s own fields, each 1 or -1', () => {
    for (const [name, c] of collections()) {
      const fields = fieldsOf(c);
      const accelerations = [...c].filter(([k]) => k.startsWith('accelerated_fields.'));
      assert.ok(accelerations.length > 0, `${name} has an acceleration for the searches over it`);
      for (const [key, value] of accelerations) {
        const spec = JSON.parse(value) as Record<string, unknown>;
        assert.ok(Object.keys(spec).length > 0, `${name} ${key}`);
        for (const [f, order] of Object.entries(spec)) {
          assert.ok(fields.includes(f), `${name} ${key} names ${f}, which is not a field`);
          assert.ok(order === 1 || order === -1, `${name} ${key}: ${f} must be 1 or -1`);
        }
      }
    }
    assert.deepEqual(JSON.parse(collections().get('soar_intel')!.get('accelerated_fields.ip')!), { ip: 1 }, 'lookups by ip are accelerated');
  });

  it('each collection has a kvstore lookup of the same name whose fields_list is _key plus exactly its fields', () => {
    const transforms = new Map(readConf('transforms.conf').map((s) => [s.name, stanzaEntries(s)]));
    const lookups = loadLookups();
    for (const [name, c] of collections()) {
      if (name in INTERNAL_COLLECTIONS) {
        assert.equal(transforms.get(name), undefined, `${name} is bookkeeping: no lookup over it`);
        continue;
      }
      const t = transforms.get(name);
      assert.ok(t, `transforms.conf [${name}]`);
      assert.equal(t.get('external_type'), 'kvstore');
      assert.equal(t.get('collection'), name);
      const list = lookups.get(name)!;
      assert.equal(list[0], '_key');
      assert.deepEqual(list.slice(1), fieldsOf(c), `${name}: fields_list = _key + the collection's fields, in order`);
    }
    // The check can fail: a fields_list missing a field differs.
    assert.notDeepEqual(lookups.get('soar_blocklist')!.slice(2), fieldsOf(collections().get('soar_blocklist')!));
  });

  it('exports the collections and the lookups to every app (metadata/default.meta)', () => {
    const meta = stanzaMap(readFileSync(path.join(REPO_ROOT, 'splunk_app', 'metadata', 'default.meta'), 'utf8'));
    assert.equal(meta.get('collections')?.get('export'), 'system');
    assert.equal(meta.get('transforms')?.get('export'), 'system');
    // Read by all, written by admins only (the default stanza, not widened per collection).
    assert.equal(meta.get('')?.get('access'), 'read : [ * ], write : [ admin ]');
    for (const name of Object.keys(REQUIRED_FIELDS)) assert.equal(meta.get(`collections/${name}`), undefined);
  });

  describe('searches over the lookups pass the search lint', () => {
    const options: SearchLintOptions = {
      macros: loadMacros().defs,
      available: new Set([...knownFields(loadSearchTime()).keys(), ...Object.values(ADDON_FIELDS).flat()]),
      reference: splReference(),
      requiredOutputs: [],
      index: INDEX,
      sourcetype: SOURCETYPE,
      lookups: loadLookups(),
    };
    const base = `index=${INDEX} sourcetype=${SOURCETYPE}`;

    it('| lookup soar_intel ip AS src_ip OUTPUT verdict, and | inputlookup soar_blocklist', () => {
      const enriched = lintSearch(`${base} | lookup soar_intel ip AS src_ip OUTPUT verdict | stats count by src_ip verdict | table src_ip verdict count`, options);
      assert.deepEqual(enriched.problems, [], enriched.expanded);
      assert.deepEqual(enriched.output, ['src_ip', 'verdict', 'count']);
      const blocks = lintSearch('| inputlookup soar_blocklist | where status="active" AND expires > now() | sort - expires | table ip expires count verdict reason', options);
      assert.deepEqual(blocks.problems, [], blocks.expanded);
      const incidents = lintSearch('| inputlookup soar_incidents | search verdict=MALICIOUS | table incident_id time src_ip verdict status discord_message_id', options);
      assert.deepEqual(incidents.problems, []);
    });

    it('the lint catches an unknown lookup, a field the lookup lacks, an input field no event has, and fields read after inputlookup', () => {
      const lint = (s: string) => lintSearch(s, options).problems;
      assert.deepEqual(lint(`${base} | lookup soar_intels ip AS src_ip OUTPUT verdict | table src_ip verdict`), [
        'lookup soar_intels ip AS src_ip OUTPUT verdict: no lookup "soar_intels" is defined',
        'table src_ip verdict: field "verdict" is neither extracted nor made by an earlier command',
      ]);
      assert.match(lint(`${base} | lookup soar_intel ip AS src_ip OUTPUT score | table src_ip score`)[0]!, /lookup soar_intel has no field "score"/);
      assert.deepEqual(lint(`${base} | lookup soar_intel ip AS srcip OUTPUT verdict | table verdict`), [
        'lookup soar_intel ip AS srcip OUTPUT verdict: field "srcip" is neither extracted nor made by an earlier command',
      ]);
      assert.deepEqual(lint('| inputlookup soar_blocklist | table ip src_ip'), ['table ip src_ip: field "src_ip" is neither extracted nor made by an earlier command']);
      assert.match(lint('| inputlookup nope | table ip')[0]!, /no lookup "nope" is defined/);
      assert.match(lint('| rest /services/server/info | table ip')[0]!, /command "rest" is not emulated/);
    });
  });
});
