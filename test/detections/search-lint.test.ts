/**
 * Search lint of the app's detections: macros, SPL commands and functions, field flow, result
 * fields, schedule and alert settings, and every key of the detection .conf files against
 * Splunk 10.2.3's spec files. Each checker is also fed a broken input, so a passing run means
 * the checker could have failed.
 */
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { parseActionConfig } from '../../src/splunk/action-config';
import { parsePipelineSettings } from '../../src/pipeline/settings';
import { ConfStanza, parseConf } from '../support/conf-file';
import { checkConf, SpecSection } from '../support/conf-spec';
import { REPO_ROOT } from '../support/paths';
import { specsFor as splunkAndAppSpecs } from '../support/splunk-facts';
import { ADDON_FIELDS } from './addon-events';
import { INDEX, loadDetections, loadMacros, loadSavedSearches, loadSearchTime, MAINTENANCE_SEARCH, PIPELINE_FIELDS, readConf, SOURCETYPE, stanzaEntries } from './app-conf';
import { macroDefs } from './macros';
import { knownFields } from './search-time';
import { lintActionSearch, lintSearch, SearchLintOptions, SentAlert, splReference } from './search-lint';
import { parseSearch } from './spl-search';

const DETECTION_CONFS = ['props.conf', 'transforms.conf', 'eventtypes.conf', 'tags.conf', 'macros.conf', 'savedsearches.conf'];

function specsFor(conf: string): SpecSection[][] {
  return splunkAndAppSpecs(conf, path.join(REPO_ROOT, 'splunk_app', 'README'));
}

/** Values the savedsearches.conf spec restricts, checked where the key checker only sees names. */
function savedSearchValueProblems(name: string, s: Map<string, string>): string[] {
  const out: string[] = [];
  const want = (key: string, ok: (v: string) => boolean, what: string) => {
    const v = s.get(key);
    if (v === undefined || !ok(v)) out.push(`[${name}] ${key} = ${v ?? '(missing)'}: ${what}`);
  };
  const cronField = (max: number) => (f: string) =>
    f.split(',').every((part) => {
      const m = /^(\*|(\d+)(?:-(\d+))?)(?:\/(\d+))?$/.exec(part);
      if (!m) return false;
      const nums = [m[2], m[3], m[4]].filter((x): x is string => x !== undefined).map(Number);
      return nums.every((n) => n <= max) && (m[4] === undefined || Number(m[4]) > 0);
    });
  want('enableSched', (v) => v === '1', 'must be 1 (scheduled)');
  want('cron_schedule', (v) => {
    const f = v.trim().split(/\s+/);
    return f.length === 5 && [59, 23, 31, 12, 7].every((max, i) => cronField(max)(f[i]!)) && /\/5$/.test(f[0]!);
  }, 'a five-field cron running every 5 minutes');
  want('counttype', (v) => v === 'number of events', 'number of events');
  want('relation', (v) => v === 'greater than', 'greater than');
  want('quantity', (v) => v === '0', '0 (any result alerts)');
  want('alert.digest_mode', (v) => v === '0', '0: the action runs once per result');
  want('alert.suppress', (v) => v === '1', '1');
  want('alert.suppress.period', (v) => /^\d+[smhd]?$/.test(v), '[number][time-unit]');
  want('alert.suppress.fields', (v) => v.split(',').every((f) => /^\w+$/.test(f.trim())), 'a comma-separated field list');
  want('alert.severity', (v) => /^[1-6]$/.test(v), '1-6');
  want('action.soar_response', (v) => v === '1', '1');
  want('description', (v) => v.length > 40, 'says what the detection finds');
  want('dispatch.latest_time', (v) => v === 'now', 'now');
  return out;
}

describe('detections: search lint', function () {
  this.timeout(60_000);
  const st = loadSearchTime();
  const macros = loadMacros();
  const detections = loadDetections();
  const options: SearchLintOptions = {
    macros: macros.defs,
    // this app's extractions, and what the Unix/Linux and Windows add-ons give their events
    available: new Set([...knownFields(st).keys(), ...Object.values(ADDON_FIELDS).flat()]),
    reference: splReference(),
    requiredOutputs: PIPELINE_FIELDS,
    index: INDEX,
    sourcetype: SOURCETYPE,
  };

  it('macros.conf is consistent: args match the stanza names, every $arg$ is declared and used', () => {
    assert.deepEqual(macros.problems, []);
    assert.ok(macros.defs.size >= 14);
  });

  it('has the five detections of issue 4', () => {
    assert.deepEqual(detections.map((d) => d.name), [
      'SOAR-EDR - SSH brute force',
      'SOAR-EDR - Windows failed-logon brute force',
      'SOAR-EDR - Successful login after failures',
      'SOAR-EDR - Password spraying',
      'SOAR-EDR - Distributed brute force',
    ]);
  });

  for (const d of loadDetections()) {
    it(`${d.name}: macros, commands, functions, fields and result fields`, () => {
      const lint = lintSearch(d.search, options);
      assert.deepEqual(lint.problems, [], lint.expanded);
      assert.ok(d.expansion.used.length >= 3, 'thresholds and window come from macros');
      assert.ok(!/`/.test(lint.expanded));
      // the thresholds are macros, not numbers written into the search
      assert.doesNotMatch(d.search, /\bwhere\b[^|]*[<>]=?\s*\d/, 'a threshold literal in the search');
    });
  }

  it("the add-ons' declared fields are the only ones the detections read that this app does not extract", () => {
    const ownOnly = { ...options, available: new Set(knownFields(st).keys()) };
    const missing = detections.flatMap((d) => lintSearch(d.search, ownOnly).problems);
    assert.ok(missing.length > 0 && missing.every((p) => /field "Logon_Type" is neither extracted/.test(p)), missing.join('\n'));
  });

  it('the lint catches undefined macros, wrong argument counts and failing macro validation', () => {
    const base = '`soar_auth_events` earliest=-15m action=failure | stats count as failure_count, values(user) as users, min(_time) as first_seen, max(_time) as last_seen by src_ip';
    const tail = (call: string) => ` | ${call} | table src_ip failure_count users attack_type severity first_seen last_seen`;
    assert.deepEqual(lintSearch(base + tail('`soar_detection_fields(ssh_brute_force,high)`'), options).problems, []);
    const ok = tail('`soar_detection_fields(ssh_brute_force,high)`');
    assert.deepEqual(lintSearch(`${base} | where failure_count > \`soar_ssh_bruteforce_treshold\`${ok}`, options).problems.slice(0, 1), [
      'macro soar_ssh_bruteforce_treshold: is not defined in macros.conf',
    ]);
    assert.deepEqual(lintSearch(`${base} | where failure_count > \`soar_ssh_bruteforce_threshold(5)\`${ok}`, options).problems.slice(0, 1), [
      'macro soar_ssh_bruteforce_threshold: called with 1 argument(s), defined with 0',
    ]);
    assert.deepEqual(lintSearch(base + tail('`soar_detection_fields(x)`'), options).problems.slice(0, 1), ['macro soar_detection_fields: called with 1 argument(s), defined with 2']);
    assert.deepEqual(lintSearch(base + tail('`soar_detection_fields(x,urgent)`'), options).problems, [
      'macro soar_detection_fields(x,urgent): validation in(severity, "low", "medium", "high", "critical") fails',
    ]);
    assert.deepEqual(lintSearch(`${base} | \`soar_src_network(src_ip,"a b")\`${ok}`, options).problems.slice(0, 1), [
      'macro soar_src_network(src_ip,"a b"): validation match(ip, "^\\w+$") AND match(network, "^\\w+$") fails',
    ]);
    const conf = parseConf('[a(2)]\nargs = x\ndefinition = $x$ $y$\n[loop]\ndefinition = `loop`\n');
    assert.deepEqual(macroDefs(conf).problems.map((p) => p.message), [
      'declares 1 args (x) but its name says 2',
      'uses $y$, which is not one of its args',
    ]);
    assert.match(lintSearch('`loop`', { ...options, macros: macroDefs(conf).defs }).problems[0]!, /expands into itself/);
  });

  it('the lint catches fields that nothing extracts or makes, commands or functions Splunk lacks, and missing result fields', () => {
    const tail = ' | eval users="", attack_type="x", severity="high", first_seen=1, last_seen=2 | table src_ip failure_count users attack_type severity first_seen last_seen';
    const lint = (s: string, end = tail) => lintSearch(`index=security_logs sourcetype=suspicious_traffic ${s}${end}`, options).problems;
    assert.deepEqual(lint('action=failure | stats count as failure_count by srcip'), [
      'stats count as failure_count by srcip: field "srcip" is neither extracted nor made by an earlier command',
      'table src_ip failure_count users attack_type severity first_seen last_seen: field "src_ip" is neither extracted nor made by an earlier command',
    ]);
    assert.deepEqual(lint('actoin=failure | stats count as failure_count by src_ip'), ['index=security_logs sourcetype=suspicious_traffic actoin=failure: field "actoin" is neither extracted nor made by an earlier command']);
    // after stats only its own fields exist
    assert.deepEqual(lint('| stats count as failure_count by src_ip | where action="failure"'), [
      'where action="failure": field "action" is neither extracted nor made by an earlier command',
    ]);
    assert.deepEqual(lint('| stats count as failure_count by src_ip | eval x=ismatch(src_ip, "a")'), ['eval function ismatch() is not in the SPL reference']);
    assert.deepEqual(lint('| stats count as failure_count by src_ip | statz count'), ['command "statz" is not emulated: statz count']);
    assert.deepEqual(lint('| stats count as failure_count by src_ip', ' | table src_ip failure_count'), [
      'the final table lacks users, which the soar_response pipeline reads',
      'the final table lacks attack_type, which the soar_response pipeline reads',
      'the final table lacks severity, which the soar_response pipeline reads',
      'the final table lacks first_seen, which the soar_response pipeline reads',
      'the final table lacks last_seen, which the soar_response pipeline reads',
    ]);
    assert.deepEqual(lint('| stats count as failure_count by src_ip', ''), ['the search must end with table (or fields) listing its result fields']);
    assert.deepEqual(lintSearch('index=main action=failure | stats count as failure_count by src_ip' + tail, options).problems, [
      'every branch of the base search must name a sourcetype or source',
      'the base search must read index=security_logs sourcetype=suspicious_traffic',
    ]);
    // each OR branch is scoped on its own; index=* scopes nothing
    const own = '(index=security_logs sourcetype=suspicious_traffic)';
    const base = (b: string) => lintSearch(`${b} action=failure | stats count as failure_count by src_ip${tail}`, options).problems;
    assert.deepEqual(base(`(${own} OR (index=os sourcetype=linux_secure))`), []);
    assert.deepEqual(base(`(${own} OR ((index=os OR index=wineventlog) (sourcetype=linux_secure OR source="WinEventLog:Security")))`), []);
    assert.deepEqual(base(`(${own} OR (sourcetype=linux_secure))`), ['every branch of the base search must name an index (index=..., not index=*)']);
    assert.deepEqual(base(`(${own} OR (index=* sourcetype=linux_secure))`), ['every branch of the base search must name an index (index=..., not index=*)']);
    assert.deepEqual(base(`(${own} OR (index=os tag=authentication))`), ['every branch of the base search must name a sourcetype or source']);
    assert.deepEqual(base('(index=os sourcetype=linux_secure)'), ['the base search must read index=security_logs sourcetype=suspicious_traffic']);
    assert.deepEqual(base(`NOT ${own} index=os sourcetype=linux_secure`), ['the base search must read index=security_logs sourcetype=suspicious_traffic']);
    // the reference check itself: a function Splunk has but the emulator lacks is still accepted there
    assert.ok(options.reference.evalFunctions.has('cidrmatch') && options.reference.statsFunctions.has('dc') && options.reference.commands.has('eventstats'));
  });

  it('schedules every 5 minutes, runs soar_response once per result with suppression, and looks back exactly as far as its window macro', () => {
    const problems = detections.flatMap((d) => savedSearchValueProblems(d.name, d.settings));
    assert.deepEqual(problems, []);
    for (const d of detections) {
      const window = parseSearch(d.expansion.text.split('|')[0]!);
      assert.ok(window.earliest !== null && window.latest === 'now', `${d.name}: the window macro sets earliest= and latest=now`);
      assert.equal(d.settings.get('dispatch.earliest_time'), window.earliest, `${d.name}: dispatch.earliest_time matches the window macro`);
      const output = lintSearch(d.search, options).output!;
      for (const f of d.settings.get('alert.suppress.fields')!.split(',')) assert.ok(output.includes(f.trim()), `${d.name}: suppression field ${f} is a result field`);
      const period = d.settings.get('alert.suppress.period')!;
      const seconds = Number(period.slice(0, -1)) * { s: 1, m: 60, h: 3600, d: 86400 }[period.slice(-1) as 's']!;
      assert.ok(seconds >= 30 * 60, `${d.name}: suppression covers the window's overlap`);
    }
    const byName = new Map(detections.map((d) => [d.name, d]));
    assert.equal(byName.get('SOAR-EDR - Distributed brute force')!.settings.get('alert.suppress.fields'), 'src_network');
    for (const d of detections.filter((x) => x.name !== 'SOAR-EDR - Distributed brute force')) assert.equal(d.settings.get('alert.suppress.fields'), 'src_ip', d.name);
    // success after failures is the most severe, in Splunk's alert severity and in the row's severity
    const compromise = byName.get('SOAR-EDR - Successful login after failures')!;
    const severities = detections.map((d) => Number(d.settings.get('alert.severity')));
    assert.equal(Number(compromise.settings.get('alert.severity')), Math.max(...severities));
    assert.ok(severities.filter((s) => s === Math.max(...severities)).length === 1);
    assert.match(compromise.search, /soar_detection_fields\(\w+,critical\)/);
    // five searches, five different start minutes
    assert.equal(new Set(detections.map((d) => d.settings.get('cron_schedule'))).size, detections.length);
  });

  it('the schedule checker rejects what Splunk would not run as intended', () => {
    const good = detections[0]!.settings;
    const broken = new Map(good);
    broken.set('cron_schedule', '*/5 * * *');
    broken.set('alert.digest_mode', '1');
    broken.set('alert.suppress.period', '1 hour');
    broken.delete('action.soar_response');
    assert.deepEqual(savedSearchValueProblems('x', broken), [
      '[x] cron_schedule = */5 * * *: a five-field cron running every 5 minutes',
      '[x] alert.digest_mode = 1: 0: the action runs once per result',
      '[x] alert.suppress.period = 1 hour: [number][time-unit]',
      '[x] action.soar_response = (missing): 1',
    ]);
  });

  it("every detection's soar_response params are valid for the action (alert_actions.conf defaults + the search's overrides)", () => {
    const defaults = stanzaEntries(readConf('alert_actions.conf').find((s) => s.name === 'soar_response')!);
    for (const d of detections) {
      const configuration: Record<string, string> = {};
      for (const [k, v] of defaults) if (k.startsWith('param.')) configuration[k.slice(6)] = v;
      for (const [k, v] of d.settings) if (k.startsWith('action.soar_response.param.')) configuration[k.slice('action.soar_response.param.'.length)] = v;
      const contract = parseActionConfig(configuration);
      assert.deepEqual(contract.problems, [], d.name);
      assert.deepEqual(parsePipelineSettings(contract.config.params).problems, [], d.name);
    }
    const declared = new Set([...defaults.keys()].filter((k) => k.startsWith('param.')).map((k) => k.slice(6)));
    const undeclared = (s: Map<string, string>) => [...s.keys()].filter((k) => k.startsWith('action.soar_response.param.') && !declared.has(k.slice(27)));
    assert.deepEqual(detections.flatMap((d) => undeclared(d.settings)), []);
    assert.deepEqual(undeclared(new Map([['action.soar_response.param.block_verdict', 'none']])), ['action.soar_response.param.block_verdict']);
    const compromise = detections.find((d) => d.name === 'SOAR-EDR - Successful login after failures')!;
    const configuration = { block_verdicts: compromise.settings.get('action.soar_response.param.block_verdicts')!, renotify_window: '0' };
    const settings = parsePipelineSettings(parseActionConfig(configuration).config.params).settings;
    assert.deepEqual([...settings.blockVerdicts].sort(), ['MALICIOUS', 'SUSPICIOUS', 'UNKNOWN']);
    assert.equal(settings.renotifySeconds, 0);
  });

  describe('the maintenance search', () => {
    const maintenance = loadSavedSearches().find((d) => d.name === MAINTENANCE_SEARCH);
    const defaults = stanzaEntries(readConf('alert_actions.conf').find((s) => s.name === 'soar_response')!);
    const action: SentAlert = { name: 'soar_response', declaredParams: new Set([...defaults.keys()].filter((k) => k.startsWith('param.')).map((k) => k.slice(6))) };

    it('the saved searches are the five detections and the maintenance search, nothing else', () => {
      assert.ok(maintenance, `no [${MAINTENANCE_SEARCH}] in savedsearches.conf`);
      assert.equal(loadSavedSearches().length, detections.length + 1);
    });

    it('passes the SPL lint: | makeresults | sendalert soar_response with param.mode="maintenance", a valid mode for the action', () => {
      const lint = lintActionSearch(maintenance!.search, options, action);
      assert.deepEqual(lint.problems, [], lint.expanded);
      assert.deepEqual(lint.commands.map((c) => c.cmd), ['makeresults', 'sendalert']);
      assert.deepEqual([...lint.params], [['mode', 'maintenance']]);
      // What splunkd hands the action: the stanza's defaults, the sendalert params over them.
      const configuration: Record<string, string> = {};
      for (const [k, v] of defaults) if (k.startsWith('param.')) configuration[k.slice(6)] = v;
      for (const [k, v] of lint.params) configuration[k] = v;
      const contract = parseActionConfig(configuration);
      assert.deepEqual(contract.problems, []);
      assert.equal(contract.config.mode, 'maintenance');
    });

    it('the action-search lint catches a wrong action, an undeclared param, a command Splunk lacks and a missing sendalert', () => {
      const problems = (s: string) => lintActionSearch(s, options, action).problems;
      assert.deepEqual(problems('| makeresults | sendalert soar_responze param.mode="maintenance"'), ['sendalert soar_responze param.mode="maintenance": sends alert action "soar_responze", not soar_response']);
      assert.deepEqual(problems('| makeresults | sendalert soar_response param.mod="maintenance"'), ['sendalert soar_response param.mod="maintenance": param.mod is not declared in alert_actions.conf [soar_response]']);
      assert.match(problems('| makeresults | sendalert soar_response mode=maintenance')[0]!, /only param\.<name>=<value> arguments are emulated/);
      assert.deepEqual(problems('| makeresults | eval x=now()'), ['the search must end with sendalert soar_response']);
      assert.match(problems('| makeresult | sendalert soar_response')[0]!, /command "makeresult" is not emulated/);
      assert.deepEqual(problems('| makeresults | sendalert soar_response | sendalert soar_response'), ['sendalert must be the last command, once']);
    });

    it('runs every minute as a scheduled report, not an alert: no trigger, no alert action, nothing tracked, short-lived artifacts', () => {
      const s = maintenance!.settings;
      assert.equal(s.get('enableSched'), '1');
      assert.equal(s.get('cron_schedule'), '* * * * *');
      assert.equal(s.get('max_concurrent'), '1');
      assert.equal(s.get('alert.track'), '0');
      assert.ok(Number(s.get('dispatch.ttl')) <= 300, 'artifacts of a search run 1,440 times a day do not pile up');
      assert.deepEqual([...s.keys()].filter((k) => /^(action\.|counttype|relation|quantity|alert_condition|alert\.(digest_mode|suppress|severity|expires))/.test(k)), []);
      assert.ok((s.get('description') ?? '').length > 40);
      assert.equal(s.get('disabled'), undefined, 'enabled by default');
    });
  });

  describe('every key of the detection .conf files is in the Splunk 10.2.3 spec (or the app README spec)', () => {
    for (const conf of DETECTION_CONFS) {
      it(conf, () => {
        const stanzas = readConf(conf);
        assert.ok(stanzas.length > 0);
        assert.deepEqual(checkConf(conf, stanzas, specsFor(conf)), []);
      });
    }

    it('tags.conf enables or disables each tag, one per line', () => {
      assert.deepEqual(tagValueProblems(readConf('tags.conf')), []);
      assert.deepEqual(tagValueProblems(parseConf('[eventtype=x]\nauthentication = yes\n"quoted" = enabled\n')), ['[eventtype=x] authentication = yes', '[eventtype=x] "quoted" = enabled']);
    });

    it('the spec check catches misspelt keys in each of these files', () => {
      const broken: Record<string, string> = {
        'props.conf': '[suspicious_traffic]\nEXTRAKT-x = (?<a>b)\nTIME_FORMATS = %s\n',
        'transforms.conf': '[t]\nREGX = a\n',
        'eventtypes.conf': '[e]\nserach = a\n',
        'macros.conf': '[m]\ndefintion = a\n',
        'savedsearches.conf': '[s]\nsearch = a\nalert.supress = 1\naction.soar_response.param.block_verdict = none\n',
      };
      const found = Object.entries(broken).flatMap(([conf, text]) => checkConf(conf, parseConf(text), specsFor(conf)).map((p) => `${conf}: ${p.message}`));
      assert.deepEqual(found, [
        'props.conf: key "EXTRAKT-x" in [suspicious_traffic] is not in the spec',
        'props.conf: key "TIME_FORMATS" in [suspicious_traffic] is not in the spec',
        'transforms.conf: key "REGX" in [t] is not in the spec',
        'eventtypes.conf: key "serach" in [e] is not in the spec',
        'macros.conf: key "defintion" in [m] is not in the spec',
        'savedsearches.conf: key "alert.supress" in [s] is not in the spec',
      ]);
      // Splunk's generic action.<action_name>.<parameter> admits any param name: the params test below checks those
    });
  });
});

function tagValueProblems(stanzas: readonly ConfStanza[]): string[] {
  return stanzas.flatMap((s) =>
    s.entries.filter((e) => !/^[A-Za-z0-9_:.-]+$/.test(e.key) || (e.value !== 'enabled' && e.value !== 'disabled')).map((e) => `[${s.name}] ${e.key} = ${e.value}`),
  );
}
