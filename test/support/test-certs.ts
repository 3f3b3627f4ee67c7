/**
 * Certificates made at test time with the `openssl` command, into a temp folder (removed by
 * `remove()`): a private CA and two certificates it signs (one for a wrong name, one for
 * 127.0.0.1), a self-signed certificate, and a stand-in for splunkd's default CA with a
 * certificate like splunkd's default one (CN SplunkServerDefaultCert, no host name), the CA
 * placed as <splunkHome>/etc/auth/cacert.pem of a fake SPLUNK_HOME.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';

export interface KeyAndCert {
  readonly key: string;
  readonly cert: string;
  readonly certFile: string;
}

export interface TestCerts {
  readonly dir: string;
  /** A private CA: caFile is what --ca-file gets. */
  readonly ca: KeyAndCert;
  /** Signed by `ca`, for other.example only. */
  readonly wrongName: KeyAndCert;
  /** Signed by `ca`, SAN IP:127.0.0.1 and DNS:localhost. */
  readonly loopback: KeyAndCert;
  /** Self-signed, for other.example. */
  readonly selfSigned: KeyAndCert;
  /** Stand-in for splunkd's default CA, at <splunkHome>/etc/auth/cacert.pem. */
  readonly splunkCa: KeyAndCert;
  /** Signed by splunkCa, CN SplunkServerDefaultCert, no SAN: names no host, like splunkd's. */
  readonly splunkDefault: KeyAndCert;
  /** A fake SPLUNK_HOME holding etc/auth/cacert.pem. */
  readonly splunkHome: string;
  remove(): void;
}

/** Fails (never skips) without openssl, saying what to install. */
export function requireOpenssl(): void {
  try {
    execFileSync('openssl', ['version'], { stdio: 'pipe' });
  } catch {
    throw new Error('the TLS tests need the openssl command to make their certificates: install it (Debian/Ubuntu: apt-get install openssl)');
  }
}

const REQ_CONFIG = '[req]\ndistinguished_name = dn\nprompt = no\n[dn]\nCN = placeholder\n';

export function makeTestCerts(): TestCerts {
  requireOpenssl();
  const dir = mkdtempSync(path.join(tmpdir(), 'soar-certs-'));
  const file = (name: string) => path.join(dir, name);
  writeFileSync(file('req.cnf'), REQ_CONFIG);
  const openssl = (args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
  const newKey = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];
  const read = (name: string): KeyAndCert => ({ key: readFileSync(file(`${name}.key`), 'utf8'), cert: readFileSync(file(`${name}.pem`), 'utf8'), certFile: file(`${name}.pem`) });

  const selfSigned = (name: string, cn: string, ext: string[]) => {
    openssl(['req', '-x509', ...newKey, '-config', file('req.cnf'), '-keyout', file(`${name}.key`), '-out', file(`${name}.pem`), '-days', '30', '-subj', `/CN=${cn}`, ...ext.flatMap((e) => ['-addext', e])]);
    return read(name);
  };
  const signed = (name: string, cn: string, caName: string, ext: string[]) => {
    openssl(['req', '-new', ...newKey, '-config', file('req.cnf'), '-keyout', file(`${name}.key`), '-out', file(`${name}.csr`), '-subj', `/CN=${cn}`]);
    writeFileSync(file(`${name}.ext`), ext.join('\n') + '\n');
    const serial = `0x${Buffer.from(name.padEnd(8, '_')).toString('hex').slice(0, 16)}`;
    openssl(['x509', '-req', '-in', file(`${name}.csr`), '-CA', file(`${caName}.pem`), '-CAkey', file(`${caName}.key`), '-set_serial', serial, '-days', '30', '-extfile', file(`${name}.ext`), '-out', file(`${name}.pem`)]);
    return read(name);
  };
  const caExt = ['basicConstraints=critical,CA:TRUE', 'keyUsage=critical,keyCertSign,cRLSign'];
  const leafExt = (san?: string) => [...(san ? [`subjectAltName=${san}`] : []), 'basicConstraints=CA:FALSE', 'keyUsage=digitalSignature,keyEncipherment', 'extendedKeyUsage=serverAuth'];

  const ca = selfSigned('ca', 'SOAR-EDR Test CA', caExt);
  const wrongName = signed('wrong-name', 'other.example', 'ca', leafExt('DNS:other.example'));
  const loopback = signed('loopback', '127.0.0.1', 'ca', leafExt('IP:127.0.0.1,DNS:localhost'));
  const selfSignedCert = selfSigned('self-signed', 'other.example', ['subjectAltName=DNS:other.example']);
  const splunkCa = selfSigned('splunk-ca', 'SplunkCommonCA', caExt);
  const splunkDefault = signed('splunk-default', 'SplunkServerDefaultCert', 'splunk-ca', leafExt());

  const splunkHome = file('splunk-home');
  mkdirSync(path.join(splunkHome, 'etc', 'auth'), { recursive: true });
  writeFileSync(path.join(splunkHome, 'etc', 'auth', 'cacert.pem'), splunkCa.cert);
  return {
    dir,
    ca,
    wrongName,
    loopback,
    selfSigned: selfSignedCert,
    splunkCa,
    splunkDefault,
    splunkHome,
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}
