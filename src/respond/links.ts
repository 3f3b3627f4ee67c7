/**
 * The only links reports and embeds carry: ones we build from a validated address, and
 * Splunk's results link after checking it is a plain http(s) URL. Attacker text never
 * becomes a link.
 */
import type { IpAddress } from '../address/ip-address';

/** Longer links are dropped rather than cut: half a URL is worse than none. */
export const MAX_LINK_CHARS = 512;

export interface IntelLinks {
  readonly virusTotal: string;
  readonly abuseIpdb: string;
}

/** Web pages (not API URLs) for an address. */
export function intelLinks(ip: IpAddress): IntelLinks {
  return {
    virusTotal: `https://www.virustotal.com/gui/ip-address/${ip.text}`,
    abuseIpdb: `https://www.abuseipdb.com/check/${ip.text}`,
  };
}

/**
 * `text` as a normalised http(s) URL without credentials, safe inside a markdown link
 * target (parentheses percent-encoded), or null.
 */
export function checkedHttpLink(text: string | null | undefined): string | null {
  if (typeof text !== 'string' || text.length === 0 || text.length > MAX_LINK_CHARS) return null;
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return null;
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return null;
  if (url.username !== '' || url.password !== '') return null;
  const href = url.href.replace(/\(/g, '%28').replace(/\)/g, '%29');
  return href.length <= MAX_LINK_CHARS ? href : null;
}
