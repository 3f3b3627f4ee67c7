/**
 * CIM Authentication mapping: FIELDALIAS-/EVAL- of props.conf and the event types and tags of
 * eventtypes.conf / tags.conf, evaluated over every format the generator writes and the real
 * corpus. An authentication event (one attempt) carries action, app, src, user and
 * tag=authentication; nothing else does.
 */
import assert from 'node:assert/strict';
import { ADDRESS_FAMILIES } from '../../src/generator/addresses';
import { FORMAT_NAMES } from '../../src/generator/formats';
import { SCENARIO_NAMES } from '../../src/generator/scenarios';
import { parseConf } from '../support/conf-file';
import { loadSearchTime, readConf } from './app-conf';
import { indexLines } from './detection-run';
import { corpusLines, generateAttempts, windowsCsvLines, windowsEcsLine, windowsXmlLines } from './event-sources';
import { buildSearchTime, danglingReferences, SearchTimeEvent } from './search-time';

const st = loadSearchTime();
const START = Date.UTC(2024, 6, 1, 12, 0, 0);
const one = (ev: SearchTimeEvent, f: string) => ev.fields.get(f)?.[0];
const all = (ev: SearchTimeEvent, f: string) => ev.fields.get(f) ?? [];

function everyEvent(): { name: string; events: SearchTimeEvent[] }[] {
  const out: { name: string; events: SearchTimeEvent[] }[] = [];
  for (const format of FORMAT_NAMES) {
    const lines = SCENARIO_NAMES.flatMap((scenario) =>
      ADDRESS_FAMILIES.flatMap((family) => generateAttempts({ scenario, format, family, seed: `cim-${scenario}-${family}`, startMs: START, maxAttempts: 60 }).flatMap((g) => g.lines)),
    );
    out.push({ name: `generator ${format}`, events: indexLines(st, lines).events });
  }
  out.push({ name: 'loghub_SSH_2k.log', events: indexLines(st, corpusLines('sshd', 'loghub_SSH_2k.log'), 2016).events });
  out.push({ name: 'loghub_Linux_2k.log', events: indexLines(st, corpusLines('sshd', 'loghub_Linux_2k.log'), 2005).events });
  out.push({
    name: 'windows corpus',
    events: indexLines(st, [...windowsCsvLines().lines, ...windowsXmlLines('microsoft_docs_event-4625_example.xml.txt'), windowsEcsLine()]).events,
  });
  return out;
}

describe('detections: CIM Authentication mapping (aliases, calculated fields, event types, tags)', function () {
  this.timeout(120_000);
  const sets = everyEvent();

  it('tag=authentication and the event types mark exactly the events that are one attempt', () => {
    let tagged = 0;
    for (const { name, events } of sets) {
      for (const ev of events) {
        const action = one(ev, 'action');
        const where = `${name}: ${one(ev, '_raw')}`;
        const types = all(ev, 'eventtype');
        assert.equal(all(ev, 'tag').includes('authentication'), action !== undefined, where);
        assert.equal(types.includes('soar_failed_authentication'), action === 'failure', where);
        assert.equal(types.includes('soar_ssh_authentication'), action !== undefined && one(ev, 'app') === 'sshd', where);
        assert.equal(types.includes('soar_windows_logon'), ['4624', '4625'].includes(one(ev, 'EventCode') ?? ''), where);
        if (action !== undefined) tagged++;
      }
    }
    assert.ok(tagged > 8000, `${tagged} authentication events`);
  });

  it('action is failure | success, app is sshd or win:<EventCode>, and src, user and dest are set where the log names them', () => {
    const apps = new Set<string>();
    const eventTypes = new Map<string, Set<string>>();
    for (const { name, events } of sets) {
      for (const ev of events.filter((e) => one(e, 'action') !== undefined)) {
        const where = `${name}: ${one(ev, '_raw')}`;
        const action = one(ev, 'action')!;
        assert.match(action, /^(failure|success)$/, where);
        apps.add(one(ev, 'app')!);
        const types = eventTypes.get(action) ?? new Set<string>();
        types.add(one(ev, 'event_type')!);
        eventTypes.set(action, types);
        assert.ok(one(ev, 'src') !== undefined, where);
        // pam_unix leaves user= out when the name is unknown to the system
        if (!/ rhost=\S*\s*$/.test(one(ev, '_raw')!)) assert.ok(one(ev, 'user') !== undefined, where);
        assert.ok(Number(one(ev, 'attempt_count')) >= 1, where);
        if (one(ev, 'src_ip') !== undefined) assert.equal(one(ev, 'src'), one(ev, 'src_ip'), where);
        if (name !== 'generator kv') assert.ok(one(ev, 'dest') !== undefined, where);
      }
    }
    assert.deepEqual([...apps].sort(), ['sshd', 'win:4624', 'win:4625']);
    assert.deepEqual(
      Object.fromEntries([...eventTypes].map(([k, v]) => [k, [...v].sort()])),
      { failure: ['ssh_failed', 'ssh_pam_failure', 'win_logon_failed'], success: ['ssh_success', 'win_logon_success'] },
    );
  });

  it('PAM lines count only under the old sshd(pam_unix) tag: modern sshd logs the same attempt again as "Failed password"', () => {
    const modern = sets.find((s) => s.name === 'loghub_SSH_2k.log')!.events.filter((e) => one(e, 'event_type') === 'ssh_pam_failure');
    assert.equal(modern.length, 504);
    assert.ok(modern.every((e) => one(e, 'action') === undefined && one(e, 'attempt_count') !== undefined));
    const legacy = sets.find((s) => s.name === 'loghub_Linux_2k.log')!.events.filter((e) => one(e, 'event_type') === 'ssh_pam_failure');
    assert.equal(legacy.length, 489);
    assert.ok(legacy.every((e) => one(e, 'action') === 'failure' && one(e, 'sshd_tag') === 'sshd(pam_unix)'));
  });

  it('ASNEW, not AS, maps the Windows names: AS would erase user on every non-Windows event', () => {
    const conf = (alias: string) =>
      buildSearchTime('suspicious_traffic', {
        props: parseConf(`[suspicious_traffic]\nREPORT-sshd = soar_sshd_login\nFIELDALIAS-win_cim = ${alias}\n`),
        transforms: readConf('transforms.conf'),
        eventtypes: [],
        tags: [],
      });
    const line = 'Dec 10 06:55:46 LabSZ sshd[24200]: Failed password for root from 203.0.113.7 port 4242 ssh2';
    assert.equal(one(indexLines(conf('TargetUserName ASNEW user'), [line]).events[0]!, 'user'), 'root');
    assert.equal(one(indexLines(conf('TargetUserName AS user'), [line]).events[0]!, 'user'), undefined);
  });

  it('the emulator refuses event types and tags Splunk would refuse, and reports calculated fields that read nothing', () => {
    const props = readConf('props.conf');
    const transforms = readConf('transforms.conf');
    assert.throws(
      () => buildSearchTime('suspicious_traffic', { props, transforms, eventtypes: parseConf('[x]\nsearch = action=failure | stats count\n'), tags: [] }),
      /cannot use a pipe/,
    );
    assert.throws(() => buildSearchTime('suspicious_traffic', { props, transforms, eventtypes: [], tags: parseConf('[eventtype]\nauthentication = enabled\n') }), /not \[field=value\]/);
    assert.throws(
      () => buildSearchTime('suspicious_traffic', { props: parseConf('[suspicious_traffic]\nFIELDALIAS-x = a AS\n'), transforms, eventtypes: [], tags: [] }),
      /triples/,
    );
    const typo = buildSearchTime('suspicious_traffic', { props: parseConf('[suspicious_traffic]\nREPORT-sshd = soar_sshd_login\nEVAL-action = if(ssh_outcom=="Failed", "failure", null())\n'), transforms, eventtypes: [], tags: [] });
    assert.deepEqual(danglingReferences(typo), ['props.conf EVAL-action reads "ssh_outcom"']);
    assert.throws(() => buildSearchTime('suspicious_traffic', { props: parseConf('[suspicious_traffic]\nREPORT-x = nope\n'), transforms, eventtypes: [], tags: [] }), /transforms.conf lacks/);
  });
});
