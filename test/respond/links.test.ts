import assert from 'node:assert/strict';
import { checkedHttpLink, intelLinks, MAX_LINK_CHARS } from '../../src/respond/links';
import { ATTACKER, splunkPayload } from './corpus';
import { ip } from '../support/ip-address';

describe('respond/links', () => {
  it('builds the VirusTotal and AbuseIPDB pages from a valid address, in canonical form', () => {
    assert.deepEqual(intelLinks(ip(ATTACKER)), {
      virusTotal: `https://www.virustotal.com/gui/ip-address/${ATTACKER}`,
      abuseIpdb: `https://www.abuseipdb.com/check/${ATTACKER}`,
    });
    assert.equal(intelLinks(ip('2001:DB8::1')).virusTotal, 'https://www.virustotal.com/gui/ip-address/2001:db8::1');
  });


  it('accepts the real Splunk results_link unchanged', () => {
    const link = splunkPayload().results_link;
    assert.equal(checkedHttpLink(link), link);
  });

  it('percent-encodes parentheses and spaces so a markdown link target cannot be closed early', () => {
    assert.equal(checkedHttpLink('https://splunk:8000/x?q=a) [b](c d'), 'https://splunk:8000/x?q=a%29%20[b]%28c%20d');
  });

  it('refuses other schemes, credentials, unparsable text, empty and over-long links', () => {
    const refused = [
      'javascript:alert(1)',
      'file:///etc/passwd',
      'data:text/html,x',
      'https://admin:changeme@splunk:8000/app',
      'not a url',
      '',
      null,
      undefined,
      `https://splunk/${'a'.repeat(MAX_LINK_CHARS)}`,
    ];
    for (const link of refused) assert.equal(checkedHttpLink(link), null, String(link));
  });

  it('refuses a link that only grows past the limit once normalised', () => {
    const spaces = `https://splunk/a${' '.repeat(MAX_LINK_CHARS - 20)}b`;
    assert.ok(spaces.length <= MAX_LINK_CHARS);
    assert.equal(checkedHttpLink(spaces), null);
  });
});
