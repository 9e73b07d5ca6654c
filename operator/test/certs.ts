/**
 * A throw-away PKI for TLS tests, made with the `openssl` CLI in a temp directory: a CA, a
 * server certificate for 127.0.0.1/localhost, a client certificate from that CA, and a second
 * CA with its own client certificate (which the server must not trust). EC P-256 keys.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface CertPair {
  readonly certFile: string;
  readonly keyFile: string;
  readonly cert: string;
  readonly key: string;
}

export interface TestPki {
  readonly dir: string;
  readonly ca: CertPair;
  readonly server: CertPair;
  readonly client: CertPair;
  readonly otherCa: CertPair;
  /** Signed by otherCa. */
  readonly otherClient: CertPair;
  /** A server certificate for 127.0.0.1/localhost signed by otherCa (certificate rotation tests). */
  readonly otherServer: CertPair;
  remove(): void;
}

const EC = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

function openssl(dir: string, args: readonly string[]): void {
  execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
}

function pair(dir: string, name: string): CertPair {
  const certFile = join(dir, `${name}.crt`);
  const keyFile = join(dir, `${name}.key`);
  return { certFile, keyFile, cert: readFileSync(certFile, 'utf8'), key: readFileSync(keyFile, 'utf8') };
}

function makeCa(dir: string, name: string): CertPair {
  openssl(dir, [
    'req', '-x509', ...EC, '-keyout', `${name}.key`, '-out', `${name}.crt`, '-days', '2', '-subj', `/CN=${name}`,
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign',
  ]);
  return pair(dir, name);
}

function makeLeaf(dir: string, name: string, ca: string, extensions: string): CertPair {
  writeFileSync(join(dir, `${name}.ext`), extensions);
  openssl(dir, ['req', '-new', ...EC, '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${name}`]);
  openssl(dir, [
    'x509', '-req', '-in', `${name}.csr`, '-CA', `${ca}.crt`, '-CAkey', `${ca}.key`, '-CAcreateserial',
    '-out', `${name}.crt`, '-days', '2', '-extfile', `${name}.ext`,
  ]);
  return pair(dir, name);
}

/** Creates the PKI; call `remove()` when done. Throws if openssl is missing. */
export function createTestPki(): TestPki {
  const dir = mkdtempSync(join(tmpdir(), 'talon-pki-'));
  const client = 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth\n';
  const server = 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\nsubjectAltName=IP:127.0.0.1,DNS:localhost\n';
  return {
    dir,
    ca: makeCa(dir, 'ca'),
    server: makeLeaf(dir, 'server', 'ca', server),
    client: makeLeaf(dir, 'falco', 'ca', client),
    otherCa: makeCa(dir, 'other-ca'),
    otherClient: makeLeaf(dir, 'intruder', 'other-ca', client),
    otherServer: makeLeaf(dir, 'rotated-server', 'other-ca', server),
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}
