import { webcrypto } from 'node:crypto';

/** DER encoding of one ASN.1 value: tag, definite length, contents. */
function der(tag: number, ...contents: Uint8Array[]): Uint8Array {
  const body = Buffer.concat(contents);
  const length =
    body.length < 0x80
      ? [body.length]
      : body.length < 0x100
        ? [0x81, body.length]
        : [0x82, body.length >> 8, body.length & 0xff];
  return Buffer.concat([Uint8Array.of(tag, ...length), body]);
}

const sequence = (...items: Uint8Array[]) => der(0x30, ...items);
const utf8 = (text: string) => der(0x0c, Buffer.from(text, 'utf8'));
const utcTime = (date: Date) => der(0x17, Buffer.from(date.toISOString().replace(/\D/g, '').slice(2, 14) + 'Z'));
/** sha256WithRSAEncryption (1.2.840.113549.1.1.11) with NULL parameters. */
const SHA256_WITH_RSA = sequence(Buffer.from('06092a864886f70d01010b', 'hex'), Uint8Array.of(0x05, 0x00));
/** commonName (2.5.4.3). */
const COMMON_NAME = Buffer.from('0603550403', 'hex');

function spkiDer(spkiPem: string): Uint8Array {
  return Buffer.from(spkiPem.replace(/-----[^-]+-----|\s/g, ''), 'base64');
}

/**
 * A self-signed X.509 certificate (PEM) for an RSA key, as Cloudflare publishes in `public_cert`:
 * subject and issuer `CN=<commonName>`, valid for a year, signed with SHA-256 by the key itself.
 */
export async function selfSignedCertificate(
  commonName: string,
  spkiPem: string,
  privateKey: webcrypto.CryptoKey,
): Promise<string> {
  const name = sequence(der(0x31, sequence(COMMON_NAME, utf8(commonName))));
  const now = new Date();
  const serial = webcrypto.getRandomValues(new Uint8Array(16));
  serial[0] = (serial[0] ?? 0) & 0x7f; // a positive INTEGER
  const tbs = sequence(
    der(0xa0, der(0x02, Uint8Array.of(2))), // version v3
    der(0x02, serial),
    SHA256_WITH_RSA,
    name,
    sequence(utcTime(now), utcTime(new Date(now.getTime() + 365 * 86_400_000))),
    name,
    spkiDer(spkiPem),
  );
  const signature = new Uint8Array(await webcrypto.subtle.sign('RSASSA-PKCS1-v1_5', privateKey, tbs));
  const certificate = sequence(tbs, SHA256_WITH_RSA, der(0x03, Uint8Array.of(0), signature));
  const base64 = Buffer.from(certificate).toString('base64').replace(/.{64}/g, '$&\n');
  return `-----BEGIN CERTIFICATE-----\n${base64.trimEnd()}\n-----END CERTIFICATE-----\n`;
}
