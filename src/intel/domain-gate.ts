/**
 * The address gate's rule for host names: a name under a special-use or private-use
 * top-level domain never leaves the host. Such names only exist inside someone's network
 * (corp.local, db.internal, nas.home.arpa); sending them to VirusTotal would leak internal
 * topology and cannot find a report anyway.
 *
 * Sources: RFC 6761 (test, example, invalid, localhost), RFC 6762 (local, and Appendix G's
 * private-use labels intranet, internal, private, corp, home, lan), RFC 8375 (home.arpa),
 * RFC 9476 (alt), ICANN's 2024 reservation of "internal", RFC 2606 (example.com/.net/.org).
 * The .arpa tree (reverse DNS, RFC 3172) names infrastructure, not a site. .onion names
 * (RFC 7686) are public and may have reports, so they are looked up.
 */

export interface DomainClass {
  readonly public: boolean;
  /** Why the name stays here; absent when it may be looked up. */
  readonly reason?: string;
}

const SPECIAL_TLDS: ReadonlyMap<string, string> = new Map([
  ['test', 'special-use .test (RFC 6761)'],
  ['example', 'special-use .example (RFC 6761)'],
  ['invalid', 'special-use .invalid (RFC 6761)'],
  ['localhost', 'special-use .localhost (RFC 6761)'],
  ['local', 'multicast DNS .local (RFC 6762)'],
  ['alt', 'special-use .alt (RFC 9476)'],
  ['arpa', 'infrastructure .arpa (RFC 3172)'],
  ['internal', 'private-use .internal (ICANN 2024)'],
  ['intranet', 'private-use .intranet (RFC 6762 Appendix G)'],
  ['private', 'private-use .private (RFC 6762 Appendix G)'],
  ['corp', 'private-use .corp (RFC 6762 Appendix G)'],
  ['home', 'private-use .home (RFC 6762 Appendix G)'],
  ['lan', 'private-use .lan (RFC 6762 Appendix G)'],
]);

const EXAMPLE_DOMAINS = new Set(['example.com', 'example.net', 'example.org']);

/** `domain` is canonical (lower-case ASCII, no trailing dot; see canonicalDomain). */
export function classifyDomain(domain: string): DomainClass {
  const tldAt = domain.lastIndexOf('.');
  const tld = domain.slice(tldAt + 1);
  if (domain === 'home.arpa' || domain.endsWith('.home.arpa')) return { public: false, reason: 'residential .home.arpa (RFC 8375)' };
  const special = SPECIAL_TLDS.get(tld);
  if (special !== undefined) return { public: false, reason: special };
  const secondLevel = domain.slice(domain.lastIndexOf('.', tldAt - 1) + 1);
  if (EXAMPLE_DOMAINS.has(secondLevel)) return { public: false, reason: `documentation ${secondLevel} (RFC 2606)` };
  return { public: true };
}
