import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { parseStringPromise } from 'xml2js';
import { parsePayload, redactPayloadSecrets } from '../../src/splunk/payload';
import { checkInvocation } from '../../src/splunk/invocation';
import { corpusPath } from '../support/paths';

const parseXml = (t: string) => parseStringPromise(t, { explicitArray: true });

describe('splunk/invocation', () => {
  it('accepts exactly --execute', () => {
    assert.deepEqual(checkInvocation(['--execute']), { ok: true, value: 'execute' });
  });
  it('refuses no argument and unknown arguments with usage', () => {
    for (const args of [[], ['--execute', '--x'], ['execute']]) {
      const r = checkInvocation(args);
      assert.equal(r.ok, false);
      if (!r.ok) assert.match(r.error.message, /usage:/);
    }
  });
});

describe('splunk/payload', () => {
  it('parses the real TA-pushover payload (corpus) with every key', async () => {
    const r = await parsePayload(readFileSync(corpusPath('splunk', 'yaleman_TA-pushover_stdin_payload.json'), 'utf8'), parseXml);
    assert.ok(r.ok);
    if (!r.ok) return;
    assert.equal(r.value.sid, 'scheduler__admin_VEEtcHVzaG92ZXI__spam_at_1649498040_4');
    assert.equal(r.value.searchName, 'spam');
    assert.equal(r.value.serverUri, 'https://127.0.0.1:8089');
    assert.match(r.value.resultsFile, /sendalert_temp_results\.csv\.gz$/);
    assert.equal(r.value.configuration.priority, '0');
    assert.deepEqual({ ...r.value.result }, { _time: '1649498041', message: 'hello world' });
    assert.equal(r.value.resultId, undefined);
  });

  it('refuses the hand-written helloWorld payload: its results_file is relative (corpus)', async () => {
    const r = await parsePayload(readFileSync(corpusPath('splunk', 'prigio_splunk-go-sdk_helloWorld_config.json'), 'utf8'), parseXml);
    assert.equal(r.ok, false);
    if (!r.ok) assert.equal(r.error.kind, 'invalid_key');
  });

  it('keeps multivalue result fields as arrays (Splunk 9 payload shape)', async () => {
    const r = await parsePayload(JSON.stringify({ sid: 's', results_file: '/x.csv.gz', result: { _si: ['idx', 'main'], n: 3, none: null } }), parseXml);
    assert.ok(r.ok);
    if (r.ok) assert.deepEqual({ ...r.value.result }, { _si: ['idx', 'main'], n: '3', none: '' });
  });

  const bad: [string, string, RegExp][] = [
    ['', 'empty', /stdin was empty/],
    ['   \n', 'empty', /stdin was empty/],
    ['{"sid": ', 'syntax', /not JSON/],
    ['"a string"', 'shape', /JSON object/],
    ['{"sid":"s"}', 'missing_key', /results_file/],
    ['{"results_file":"/x.csv.gz"}', 'missing_key', /"sid"/],
    ['{"sid":"s","results_file":{"a":1}}', 'invalid_key', /must be a string/],
    ['{"sid":"s","results_file":"/x","configuration":[1]}', 'invalid_key', /configuration/],
    ['{"sid":"s","results_file":"/x","configuration":{"a":{"b":1}}}', 'invalid_key', /param "a"/],
    ['{"sid":"s","results_file":"/x","server_uri":"javascript:alert(1)"}', 'invalid_key', /server_uri/],
    ['<alert><sid>s</sid>', 'syntax', /XML/],
  ];
  for (const [text, kind, message] of bad) {
    it(`rejects ${JSON.stringify(text).slice(0, 50)} as ${kind}`, async () => {
      const r = await parsePayload(text, parseXml);
      assert.equal(r.ok, false);
      if (!r.ok) {
        assert.equal(r.error.kind, kind);
        assert.match(r.error.message, message);
      }
    });
  }

  it('reads an XML payload with <configuration><stanza><param> and <result><field>', async () => {
    const xml = `<alert><sid>s1</sid><results_file>/d/results.csv.gz</results_file><search_name>n</search_name>
      <configuration><stanza name="soar_response"><param name="address_fields">ip</param><param name="empty"></param></stanza></configuration>
      <result><field k="src_ip"><value><text>203.0.113.9</text></value></field><field k="users"><value><text>a</text></value><value><text>b</text></value></field></result></alert>`;
    const r = await parsePayload(xml, parseXml);
    assert.ok(r.ok);
    if (!r.ok) return;
    assert.deepEqual({ ...r.value.configuration }, { address_fields: 'ip', empty: '' });
    assert.deepEqual({ ...r.value.result }, { src_ip: '203.0.113.9', users: ['a', 'b'] });
  });
});

describe('splunk/payload: session key blanking for a kept payload', () => {
  const KEY = 'aYAUg6hQDWJyV_UuSlXWEsgwUhFE5Ua';
  const base = { sid: 's1', results_file: '/d/r.csv.gz', server_uri: 'https://127.0.0.1:8089' };

  it('blanks the key on the parsed JSON, whatever the spelling, and wherever its value is echoed', () => {
    const spellings = [
      `{"session_key":"${KEY}","sid":"s1"}`,
      `{"session\\u005fkey":"${KEY}","sid":"s1"}`,
      `{"\\u0073\\u0065ssion_key":"${KEY}","sid":"s1"}`,
      `{"session_key":"x","session\\u005Fkey":"${KEY}"}`,
      `{"sid":"s1","configuration":{"sessionKey":"${KEY}"},"search_uri":"/x?k=${KEY}"}`,
      `\uFEFF  {"SESSION-KEY":"${KEY}"}`,
    ];
    for (const text of spellings) {
      const out = redactPayloadSecrets(text);
      assert.ok(!out.includes(KEY), `${text} => ${out}`);
      assert.doesNotThrow(() => JSON.parse(out), 'still JSON');
    }
    const kept = JSON.parse(redactPayloadSecrets(JSON.stringify({ ...base, session_key: KEY }))) as Record<string, string>;
    assert.deepEqual(kept, { ...base, session_key: '' }, 'everything else kept as it was');
  });

  it('falls back to text rules only for text that does not parse, unicode-escaped keys included', () => {
    const broken = [
      `{"session_key":"${KEY}","sid":`,
      `{"session\\u005fkey" : "${KEY}", "sid":`,
      `{"sid":"s1","session_key":"${KEY}`,
      `{"Session_Key": 123456789012345, "sid":`,
      `<alert><session_key>${KEY}</session_key><sid>`,
      `<alert><x:session_key a="1">${KEY}</x:session_key><sid>`,
      `<alert><param name="session_key">${KEY}</param><sid>`,
      `<alert><session_key>${KEY}`,
    ];
    for (const text of broken) {
      const out = redactPayloadSecrets(text);
      assert.ok(!out.includes(KEY) && !out.includes('123456789012345'), `${text} => ${out}`);
    }
  });

  it('keeps an XML payload that parsed as the JSON form of what was read, key blanked', async () => {
    const xml = `<alert><sid>s1</sid><results_file>/d/r.csv.gz</results_file><session_key>${KEY}</session_key><server_uri>https://127.0.0.1:8089</server_uri></alert>`;
    const parsed = await parsePayload(xml, parseXml);
    assert.ok(parsed.ok);
    if (!parsed.ok) return;
    const out = redactPayloadSecrets(xml, parsed.value);
    assert.ok(!out.includes(KEY));
    const doc = JSON.parse(out) as Record<string, unknown>;
    assert.deepEqual([doc.sid, doc.results_file, doc.session_key], ['s1', '/d/r.csv.gz', '']);
  });
});
