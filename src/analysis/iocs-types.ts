/** The indicator kinds the extractor reports, in the order they are listed in its output. */
export const IOC_TYPES = ['ipv4', 'ipv6', 'domains', 'urls', 'emails', 'md5', 'sha1', 'sha256', 'sha512', 'cves'] as const;

export type IocType = (typeof IOC_TYPES)[number];

/**
 * Indicators found in a text, one list per kind: deduplicated, in first-seen order, refanged
 * and normalised (lower-case hosts, hashes and emails; IPv6 in RFC 5952 form; CVE ids upper-case).
 */
export type IocSet = { [K in IocType]: string[] };

export interface IocExtractOptions {
  /** Kinds to report; the others stay empty (default: all). */
  readonly types?: readonly IocType[];
  /**
   * Also list the host of every URL under ipv4 / ipv6 / domains and the domain of every email
   * address under domains (default true): "hxxp://66.135.3[.]99/a.dat" then yields the URL and
   * the address 66.135.3.99.
   */
  readonly includeEmbeddedHosts?: boolean;
}
