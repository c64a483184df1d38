// TOTP (RFC 6238) over HOTP (RFC 4226) with node's crypto, for browser tests that log in as a
// staff member: the test computes the code an authenticator app would show for the secret that
// `chukan staff add --json` printed. Base32 as RFC 4648 §6 (what otpauth:// URIs carry).
import { createHmac } from 'node:crypto';

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

// Decodes base32 text (case-insensitive; '=' padding, spaces and hyphens ignored) to bytes.
// Throws on any other character or on leftover bits that are not zero.
export function base32Decode(text) {
  const clean = text.toUpperCase().replace(/[\s=-]/g, '');
  const out = [];
  let bits = 0;
  let value = 0;
  for (const c of clean) {
    const v = ALPHABET.indexOf(c);
    if (v < 0) throw new Error(`base32: invalid character ${JSON.stringify(c)}`);
    value = (value << 5) | v;
    bits += 5;
    if (bits >= 8) {
      bits -= 8;
      out.push((value >> bits) & 0xff);
    }
    value &= (1 << bits) - 1;
  }
  if (value !== 0) throw new Error('base32: trailing bits are not zero');
  return Buffer.from(out);
}

// The HOTP value of `counter` (a non-negative integer or BigInt) as `digits` decimal digits.
export function hotp(key, counter, { digits = 6, algorithm = 'sha1' } = {}) {
  const message = Buffer.alloc(8);
  message.writeBigUInt64BE(BigInt(counter));
  const mac = createHmac(algorithm, key).update(message).digest();
  const offset = mac[mac.length - 1] & 0x0f;  // dynamic truncation, RFC 4226 §5.3
  const binary = mac.readUInt32BE(offset) & 0x7fffffff;
  return String(binary % 10 ** digits).padStart(digits, '0');
}

// The TOTP code of a base32 secret at `time` (seconds since the epoch; default now), as the
// console expects it: SHA-1, 6 digits, 30-second steps unless told otherwise.
export function totp(secretBase32, { time = Date.now() / 1000, period = 30, digits = 6,
                                     algorithm = 'sha1' } = {}) {
  const step = Math.floor(time / period);
  return hotp(base32Decode(secretBase32), step, { digits, algorithm });
}

// Seconds left in the current 30-second step: a test that must not straddle two steps (a code
// is good once, and the next login needs a fresh step) waits these out first.
export function secondsLeftInStep({ time = Date.now() / 1000, period = 30 } = {}) {
  return period - (time % period);
}

// The parameters of an otpauth://totp/… URI (the Key Uri Format): { label, secret, issuer,
// algorithm, digits, period }, with the defaults authenticator apps assume.
export function parseOtpauthUri(uri) {
  const u = new URL(uri);
  if (u.protocol !== 'otpauth:' || u.host !== 'totp') throw new Error(`not a TOTP URI: ${uri}`);
  const p = u.searchParams;
  if (!p.get('secret')) throw new Error('otpauth URI without a secret');
  return {
    label: decodeURIComponent(u.pathname.replace(/^\//, '')),
    secret: p.get('secret'),
    issuer: p.get('issuer'),
    algorithm: (p.get('algorithm') || 'SHA1').toLowerCase(),
    digits: Number(p.get('digits') || 6),
    period: Number(p.get('period') || 30),
  };
}
