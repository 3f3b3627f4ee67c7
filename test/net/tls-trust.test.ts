/**
 * splunkd's certificate rules: the pure parts, then the storage/passwords transport against
 * loopback HTTPS stubs with certificates made by openssl at test time.
 */
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import type { LookupFunction } from 'node:net';
import * as path from 'node:path';
import type { PeerCertificate } from 'node:tls';
import {
  certificateFailureMessage,
  certificateReason,
  isLoopbackAddress,
  isLoopbackHost,
  pemCertificates,
  readCaFile,
  splunkdTlsOptions,
  SplunkTrust,
  sslRootCaPathIn,
} from '../../src/net/tls-trust';
import { fetchStoredSecrets, SplunkConnection } from '../../src/splunk/secrets';
import { RestStub, startRestStub } from '../support/splunkd-rest-stub';
import { KeyAndCert, makeTestCerts, TestCerts } from '../support/test-certs';

describe('net/tls-trust', () => {
  describe('pure rules', () => {
    it('a loopback host is 127.0.0.0/8, ::1 (any spelling, also IPv4-mapped) or localhost, nothing else', () => {
      for (const h of ['127.0.0.1', '127.8.9.10', '::1', '[::1]', '0:0:0:0:0:0:0:1', '::ffff:127.0.0.1', 'localhost', 'LOCALHOST', 'localhost.']) assert.ok(isLoopbackHost(h), h);
      for (const h of ['10.0.0.1', '128.0.0.1', '::2', '::ffff:10.0.0.1', 'localhost.example', 'my-localhost', '127.1', '2130706433', 'splunk.example']) assert.ok(!isLoopbackHost(h), h);
      assert.ok(!isLoopbackAddress('localhost'), 'a socket address is never a name');
      // A zone id is refused by the address parser (new URL would have thrown on it).
      for (const a of ['::1%lo', 'fe80::1%eth0']) assert.ok(!isLoopbackAddress(a), a);
    });

    it('names what failed for each certificate error, and nothing for other errors', () => {
      assert.match(certificateReason('CERT_HAS_EXPIRED')!, /expired/);
      assert.match(certificateReason('DEPTH_ZERO_SELF_SIGNED_CERT')!, /self-signed/);
      assert.match(certificateReason('UNABLE_TO_VERIFY_LEAF_SIGNATURE')!, /unknown CA/);
      assert.match(certificateReason('SELF_SIGNED_CERT_IN_CHAIN')!, /unknown CA/);
      assert.match(certificateReason('ERR_TLS_CERT_ALTNAME_INVALID')!, /another name/);
      assert.equal(certificateReason('ECONNREFUSED'), undefined);
      assert.equal(certificateReason(undefined), undefined);
    });

    it('the failure message gives the three ways forward (CLI) or the settings (alert action)', () => {
      const cli = certificateFailureMessage('splunk.example:8089', 'the certificate is self-signed');
      for (const way of [/--ca-file FILE/, /SPLUNK_CA_FILE/, /real certificate/, /--insecure/, /nothing was sent/]) assert.match(cli, way);
      const action = certificateFailureMessage('127.0.0.1:8089', 'the certificate is self-signed', true);
      assert.match(action, /sslRootCAPath/);
      assert.doesNotMatch(action, /--insecure/);
    });

    it('reads [sslConfig] sslRootCAPath only from its stanza, $SPLUNK_HOME expanded', () => {
      const conf = '[general]\nsslRootCAPath = /wrong\n\n[sslConfig]\n# comment\nenableSplunkdSSL = true\nsslRootCAPath = $SPLUNK_HOME/etc/auth/mine.pem\n[kvstore]\nsslRootCAPath = /also-wrong\n';
      assert.equal(sslRootCaPathIn(conf, '/opt/splunk'), '/opt/splunk/etc/auth/mine.pem');
      assert.equal(sslRootCaPathIn('[sslConfig]\nserverCert = x\n', '/opt/splunk'), undefined);
    });

    it('a CA file that cannot be read or holds no certificate is a usage error naming it', () => {
      const missing = readCaFile('/nowhere/ca.pem', (f) => readFileSync(f, 'utf8'));
      assert.ok(!missing.ok && missing.error.kind === 'usage' && missing.error.message.includes('/nowhere/ca.pem'), JSON.stringify(missing));
      const empty = readCaFile('notes.txt', () => 'just text');
      assert.ok(!empty.ok && /notes\.txt holds no PEM certificate/.test(empty.error.message));
      const garbage = readCaFile('bad.pem', () => '-----BEGIN CERTIFICATE-----\nnot base64 at all\n-----END CERTIFICATE-----\n');
      assert.ok(!garbage.ok && /bad\.pem/.test(garbage.error.message));
      assert.equal(pemCertificates('a\n-----BEGIN CERTIFICATE-----\nA\n-----END CERTIFICATE-----\nb\n-----BEGIN CERTIFICATE-----\nB\n-----END CERTIFICATE-----').length, 2);
    });
  });

  describe('the storage/passwords transport against HTTPS stubs', function () {
    this.timeout(30_000);
    let certs: TestCerts;
    const stubs: RestStub[] = [];
    before(() => {
      certs = makeTestCerts();
    });
    after(() => certs.remove());
    afterEach(async () => {
      for (const s of stubs.splice(0)) await s.close();
    });

    async function stubWith(kc: KeyAndCert): Promise<RestStub> {
      const stub = await startRestStub({ tls: { key: kc.key, cert: kc.cert } });
      stub.passwords.push({ app: 'soar_edr', realm: 'soar_edr', username: 'virustotal_api_key', password: 'vt-from-splunkd' });
      stubs.push(stub);
      return stub;
    }
    const trust = (over: Partial<SplunkTrust> = {}): SplunkTrust => ({ insecure: false, caPem: [], serverConfCa: false, splunkHome: certs.splunkHome, ...over });
    const conn = (stub: RestStub, t: SplunkTrust, host = '127.0.0.1', extra: Partial<SplunkConnection> = {}): SplunkConnection => ({
      scheme: 'https',
      host,
      port: stub.port,
      sessionKey: stub.sessionKey,
      timeoutMs: 5000,
      trust: t,
      ...extra,
    });
    /** A made-up name that resolves to the loopback stub: the name is not loopback, the address is. */
    const toLoopback: LookupFunction = (_host, options, callback) => {
      if ((options as { all?: boolean }).all) (callback as unknown as (e: null, a: { address: string; family: number }[]) => void)(null, [{ address: '127.0.0.1', family: 4 }]);
      else callback(null, '127.0.0.1', 4);
    };

    async function refused(stub: RestStub, c: SplunkConnection, reason: RegExp): Promise<string> {
      const r = await fetchStoredSecrets(c);
      assert.ok(!r.ok, JSON.stringify(r));
      assert.equal(r.error.kind, 'certificate', r.error.message);
      assert.match(r.error.message, reason);
      assert.deepEqual(stub.requests, [], 'no request may reach a server whose certificate is not trusted');
      return r.error.message;
    }
    async function accepted(stub: RestStub, c: SplunkConnection): Promise<void> {
      const r = await fetchStoredSecrets(c);
      assert.deepEqual(r, { ok: true, value: { virustotal_api_key: 'vt-from-splunkd' } });
      assert.equal(stub.requests[0]!.auth, `Splunk ${stub.sessionKey}`);
    }

    it('refuses a self-signed certificate, and sends nothing', async () => {
      const stub = await stubWith(certs.selfSigned);
      const message = await refused(stub, conn(stub, trust()), /self-signed/);
      assert.match(message, /127\.0\.0\.1:\d+/);
    });

    it('refuses a certificate of an unknown CA', async () => {
      const stub = await stubWith(certs.loopback);
      await refused(stub, conn(stub, trust()), /unknown CA/);
    });

    it('with the CA trusted: refuses a certificate for another name, accepts one for 127.0.0.1', async () => {
      const wrong = await stubWith(certs.wrongName);
      await refused(wrong, conn(wrong, trust({ caPem: [certs.ca.cert] })), /another name/);
      const right = await stubWith(certs.loopback);
      await accepted(right, conn(right, trust({ caPem: [certs.ca.cert] })));
    });

    it('--insecure accepts any certificate', async () => {
      const stub = await stubWith(certs.selfSigned);
      await accepted(stub, conn(stub, trust({ insecure: true })));
    });

    it('the loopback rule: a certificate of the default CA, naming no host, is accepted on 127.0.0.1', async () => {
      const stub = await stubWith(certs.splunkDefault);
      await accepted(stub, conn(stub, trust()));
      const noDefaultCa = await stubWith(certs.splunkDefault);
      await refused(noDefaultCa, conn(noDefaultCa, trust({ splunkHome: path.join(certs.dir, 'no-splunk-here') })), /unknown CA/);
    });

    it('the loopback rule is refused for a host name that is not loopback, even when it resolves to 127.0.0.1', async () => {
      const stub = await stubWith(certs.splunkDefault);
      await refused(stub, conn(stub, trust(), 'splunkd.soar-test.example', { lookup: toLoopback }), /unknown CA/);
      // The same certificate through the same lookup is fine when the name is `localhost`.
      const local = await stubWith(certs.splunkDefault);
      await accepted(local, conn(local, trust(), 'localhost', { lookup: toLoopback }));
    });

    it('on loopback the trusted list is ours only (no public CA vouches for 127.0.0.1); elsewhere the system CAs stay', () => {
      const read = (f: string) => readFileSync(f, 'utf8');
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      const roots = (require('node:tls') as typeof import('node:tls')).rootCertificates.length;
      const local = splunkdTlsOptions('127.0.0.1', trust(), read);
      assert.ok(Array.isArray(local.ca) && local.ca.length > 0 && local.ca.length < roots, `loopback: ${Array.isArray(local.ca) ? local.ca.length : 0} certificates`);
      const remote = splunkdTlsOptions('splunkd.soar-test.example', trust({ caPem: [readFileSync(certs.ca.certFile, 'utf8')] }), read);
      assert.ok(Array.isArray(remote.ca) && remote.ca.length === roots + 1, 'a remote host: the system CAs and the given one');
    });

    it('a local name whose connection went to another address is refused before the name check', () => {
      const options = splunkdTlsOptions('localhost', trust(), (f) => readFileSync(f, 'utf8'));
      const peer = { subject: { CN: 'SplunkServerDefaultCert' }, subjectaltname: undefined } as unknown as PeerCertificate;
      const error = options.checkServerIdentity!('localhost', peer, '192.0.2.7') as NodeJS.ErrnoException;
      assert.equal(error.code, 'ERR_SPLUNKD_NOT_LOOPBACK');
      assert.match(certificateReason(error.code)!, /another address/);
      assert.ok(options.checkServerIdentity!('localhost', peer, undefined), 'an unknown peer address is not loopback');
    });

    it('the alert action also trusts server.conf [sslConfig] sslRootCAPath, but never the default CA off loopback', async () => {
      const local = path.join(certs.splunkHome, 'etc', 'system', 'local');
      mkdirSync(local, { recursive: true });
      const serverConf = path.join(local, 'server.conf');
      writeFileSync(serverConf, `[sslConfig]\nsslRootCAPath = ${certs.ca.certFile}\n`);
      const stub = await stubWith(certs.loopback);
      await accepted(stub, conn(stub, trust({ serverConfCa: true })));
      // sslRootCAPath naming the default CA file does not make it trusted for a non-loopback name.
      writeFileSync(serverConf, '[sslConfig]\nsslRootCAPath = $SPLUNK_HOME/etc/auth/cacert.pem\n');
      const remote = await stubWith(certs.splunkDefault);
      const message = await refused(remote, conn(remote, trust({ serverConfCa: true }), 'splunkd.soar-test.example', { lookup: toLoopback }), /unknown CA/);
      assert.match(message, /sslRootCAPath/);
      assert.doesNotMatch(message, /--insecure/);
      writeFileSync(serverConf, '');
    });
  });
});
