/**
 * Whom we believe to be splunkd: the certificate rules of the storage/passwords transport,
 * used by the admin CLI (which sends the Splunk password and secret values) and by the alert
 * action (which sends the session key splunkd gave it).
 *
 * - The certificate is verified (system CAs, host name checked), plus the CAs the person
 *   names (--ca-file / SPLUNK_CA_FILE) and, for the alert action, server.conf's
 *   [sslConfig] sslRootCAPath.
 * - The loopback rule: when the host is a loopback address or `localhost`, and the socket's
 *   peer really is a loopback address, splunkd's default CA ($SPLUNK_HOME/etc/auth/cacert.pem)
 *   is trusted too, and for a certificate that chains to it the host-name check is skipped.
 *   splunkd's default certificate is issued by a CA that is the same in every Splunk
 *   download (anyone can mint a certificate from it) and names no host, so it proves
 *   nothing about identity; it is accepted only where no network neighbour can sit between
 *   us and splunkd. Off loopback that CA is not trusted at all, whichever setting names it.
 * - `--insecure` turns every check off; the caller warns.
 *
 * Files are read when a request is made, never at start-up: most alert runs never ask.
 */
import * as path from 'node:path';
import type { PeerCertificate } from 'node:tls';
import { parseIpAddress } from '../address/ip-address';
import { fail, ok, Result } from '../result';

export interface SplunkTrust {
  /** No check at all (--insecure): the caller has written its warning. */
  readonly insecure: boolean;
  /** CA certificates (PEM blocks) trusted besides the system's, already read (--ca-file). */
  readonly caPem: readonly string[];
  /**
   * Also trust server.conf [sslConfig] sslRootCAPath: the alert action, which uses splunkd's
   * own setting (and whose failure messages name settings, not command-line options).
   */
  readonly serverConfCa: boolean;
  /** $SPLUNK_HOME (default /opt/splunk): etc/auth/cacert.pem is splunkd's default CA. */
  readonly splunkHome: string;
}

export const DEFAULT_SPLUNK_HOME = '/opt/splunk';

export function splunkHomeFrom(env: Readonly<Record<string, string | undefined>>): string {
  return env.SPLUNK_HOME?.trim() || DEFAULT_SPLUNK_HOME;
}

export function splunkDefaultCaPath(splunkHome: string): string {
  return path.join(splunkHome, 'etc', 'auth', 'cacert.pem');
}

// ------------------------------------------------------------------------------ pure rules

/** An address of 127.0.0.0/8 or ::1 (also as ::ffff:127.x.y.z), as the socket reports it. */
export function isLoopbackAddress(address: string): boolean {
  // The one address parser (canonical dotted quads only, no inet_aton forms such as 127.1;
  // IPv4-mapped becomes IPv4; a zone id is refused, and no loopback address carries one).
  const parsed = parseIpAddress(address.replace(/^\[|\]$/g, ''));
  if (!parsed.ok) return false;
  return parsed.value.family === 4 ? parsed.value.text.startsWith('127.') : parsed.value.text === '::1';
}

/** The host as the person or splunkd wrote it: a loopback address, or `localhost`. */
export function isLoopbackHost(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase();
  return h === 'localhost' || h === 'localhost.' || isLoopbackAddress(h);
}

/** What failed, in words, for Node's certificate error codes; undefined when it is no certificate error. */
export function certificateReason(code: string | undefined): string | undefined {
  switch (code) {
    case 'CERT_HAS_EXPIRED':
      return 'the certificate has expired';
    case 'CERT_NOT_YET_VALID':
      return 'the certificate is not valid yet';
    case 'DEPTH_ZERO_SELF_SIGNED_CERT':
      return 'the certificate is self-signed';
    case 'SELF_SIGNED_CERT_IN_CHAIN':
    case 'UNABLE_TO_GET_ISSUER_CERT':
    case 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY':
    case 'UNABLE_TO_VERIFY_LEAF_SIGNATURE':
      return 'the certificate is issued by an unknown CA';
    case 'ERR_TLS_CERT_ALTNAME_INVALID':
      return 'the certificate is for another name';
    case 'ERR_SPLUNKD_NOT_LOOPBACK':
      return 'the host is named as local but the connection went to another address';
    case 'CERT_REVOKED':
      return 'the certificate is revoked';
    case 'CERT_SIGNATURE_FAILURE':
    case 'CERT_UNTRUSTED':
    case 'CERT_REJECTED':
    case 'INVALID_CA':
    case 'INVALID_PURPOSE':
    case 'PATH_LENGTH_EXCEEDED':
    case 'HOSTNAME_MISMATCH':
      return `the certificate was rejected (${code})`;
    default:
      return undefined;
  }
}

/**
 * The whole message: what failed, where, and the ways forward (for the admin CLI, or for the
 * alert action, which cannot take options). Never a password.
 */
export function certificateFailureMessage(target: string, reason: string, alertAction = false): string {
  const head = `splunkd's TLS certificate at ${target} is not trusted: ${reason}; nothing was sent. `;
  if (alertAction) {
    return head + "Name splunkd's CA in server.conf [sslConfig] sslRootCAPath, give splunkd a certificate for the server_uri host, or keep splunkd's management port on loopback";
  }
  return (
    head +
    'Trust its CA with --ca-file FILE (or SPLUNK_CA_FILE), give splunkd a real certificate for this host name, ' +
    'or, knowing that anyone on the path could then read the password, pass --insecure'
  );
}

/** Every PEM certificate block of a text (a CA bundle may hold several). */
export function pemCertificates(text: string): string[] {
  return text.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
}

/** `[sslConfig] sslRootCAPath` of one server.conf text, $SPLUNK_HOME expanded; undefined when not set. */
export function sslRootCaPathIn(confText: string, splunkHome: string): string | undefined {
  let inSsl = false;
  let found: string | undefined;
  for (const raw of confText.split(/\r?\n/)) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const stanza = /^\[(.*)\]$/.exec(line);
    if (stanza) {
      inSsl = stanza[1]!.trim() === 'sslConfig';
      continue;
    }
    const kv = /^([^=]+?)\s*=\s*(.*)$/.exec(line);
    if (inSsl && kv && kv[1] === 'sslRootCAPath' && kv[2]!.trim() !== '') found = kv[2]!.trim();
  }
  if (found === undefined) return undefined;
  const expanded = found.replace(/\$SPLUNK_HOME\b/g, splunkHome);
  return path.isAbsolute(expanded) ? expanded : path.join(splunkHome, expanded);
}

// --------------------------------------------------------------------------- the shell

export type ReadText = (file: string) => string;

/** --ca-file: the certificates of a readable PEM file, or a usage error that names the file. */
export function readCaFile(file: string, readText: ReadText): Result<string[], 'usage'> {
  let text: string;
  try {
    text = readText(file);
  } catch (e) {
    return fail('usage', `cannot read the CA file ${file}: ${(e as Error).message}`);
  }
  const pems = pemCertificates(text);
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { X509Certificate } = require('node:crypto') as typeof import('node:crypto');
  const usable = pems.filter((p) => {
    try {
      new X509Certificate(p);
      return true;
    } catch {
      return false;
    }
  });
  if (usable.length === 0) return fail('usage', `the CA file ${file} holds no PEM certificate (-----BEGIN CERTIFICATE-----)`);
  return ok(usable);
}

/** Options for tls.connect / https.request; checkServerIdentity also gets the socket's peer address. */
export interface TlsConnectOptions {
  readonly rejectUnauthorized: boolean;
  readonly ca?: string[];
  readonly checkServerIdentity?: (host: string, cert: PeerCertificate, remoteAddress: string | undefined) => Error | undefined;
}

function readCerts(file: string, readText: ReadText): string[] {
  try {
    return pemCertificates(readText(file));
  } catch {
    return [];
  }
}

/** server.conf's sslRootCAPath: system/local wins over system/default, as splunkd layers them. */
function serverConfCaPath(splunkHome: string, readText: ReadText): string | undefined {
  for (const layer of ['local', 'default']) {
    let text: string;
    try {
      text = readText(path.join(splunkHome, 'etc', 'system', layer, 'server.conf'));
    } catch {
      continue;
    }
    const p = sslRootCaPathIn(text, splunkHome);
    if (p !== undefined) return p;
  }
  return undefined;
}

function codedError(message: string, code: string): Error {
  return Object.assign(new Error(message), { code });
}

/**
 * The TLS options for one connection to splunkd at `host`, files read now (call it when a
 * request is made). `readText` reads a file as UTF-8 (injected for tests).
 */
export function splunkdTlsOptions(host: string, trust: SplunkTrust, readText: ReadText): TlsConnectOptions {
  if (trust.insecure) return { rejectUnauthorized: false };
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const tls = require('node:tls') as typeof import('node:tls');
  const loopbackHost = isLoopbackHost(host);
  const defaultCaFile = splunkDefaultCaPath(trust.splunkHome);
  const defaultCa = loopbackHost ? readCerts(defaultCaFile, readText) : [];
  const extra = [...trust.caPem];
  if (trust.serverConfCa) {
    const confCa = serverConfCaPath(trust.splunkHome, readText);
    // The shared default CA is trusted on loopback only, even when sslRootCAPath names it.
    if (confCa !== undefined && path.resolve(confCa) !== path.resolve(defaultCaFile)) extra.push(...readCerts(confCa, readText));
  }
  const trusted = [...extra, ...defaultCa];
  // `ca` replaces Node's list: keep the system CAs and add ours — except on loopback, where no
  // public CA can vouch for 127.0.0.1 or localhost, and a context built from ~150 roots costs
  // ~20 ms per connection (every alert run makes one).
  const ca = loopbackHost ? trusted : [...tls.rootCertificates, ...trusted];
  return {
    rejectUnauthorized: true,
    ...(trusted.length > 0 ? { ca } : {}),
    checkServerIdentity: (name, cert, remoteAddress) => {
      if (loopbackHost && (remoteAddress === undefined || !isLoopbackAddress(remoteAddress))) {
        return codedError(`${host} is a local name but the connection went to ${remoteAddress ?? 'an unknown address'}`, 'ERR_SPLUNKD_NOT_LOOPBACK');
      }
      const nameError = tls.checkServerIdentity(name, cert);
      if (nameError === undefined) return undefined;
      if (loopbackHost && defaultCa.length > 0 && chainsTo(cert, defaultCa)) return undefined;
      return nameError;
    },
  };
}

/**
 * Whether the certificate is, or is signed through its own chain by, one of the CA
 * certificates: every link's signature checked here, not taken from the chain's labels.
 */
export function chainsTo(cert: PeerCertificate, caPems: readonly string[]): boolean {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { X509Certificate } = require('node:crypto') as typeof import('node:crypto');
  const cas = caPems.flatMap((p) => {
    try {
      return [new X509Certificate(p)];
    } catch {
      return [];
    }
  });
  let current: PeerCertificate | undefined = cert;
  for (let depth = 0; current?.raw !== undefined && depth < 10; depth++) {
    const x = new X509Certificate(current.raw);
    if (cas.some((ca) => ca.fingerprint256 === x.fingerprint256 || (x.checkIssued(ca) && x.verify(ca.publicKey)))) return true;
    const next: PeerCertificate | undefined = (current as { issuerCertificate?: PeerCertificate }).issuerCertificate;
    if (next === undefined || next === current || next.raw === undefined || next.fingerprint256 === current.fingerprint256) return false;
    const nx = new X509Certificate(next.raw);
    if (!x.checkIssued(nx) || !x.verify(nx.publicKey)) return false;
    current = next;
  }
  return false;
}
