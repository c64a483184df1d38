// lib/totp.mjs against the test vectors of RFC 6238 Appendix B (SHA-1) and RFC 4226 Appendix D.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { base32Decode, hotp, parseOtpauthUri, totp } from './totp.mjs';

// RFC 6238's SHA-1 seed, "12345678901234567890", in base32.
const SEED = 'GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ';

test('base32 decodes the RFC 6238 seed and RFC 4648 vectors', () => {
  assert.equal(base32Decode(SEED).toString('latin1'), '12345678901234567890');
  assert.equal(base32Decode('MZXW6YTBOI======').toString(), 'foobar');
  assert.equal(base32Decode('mzxw6ytb').toString(), 'fooba');
  assert.throws(() => base32Decode('MZXW1'), /invalid character "1"/);
});

test('HOTP matches RFC 4226 Appendix D', () => {
  const expected = ['755224', '287082', '359152', '969429', '338314',
                    '254676', '287922', '162583', '399871', '520489'];
  const key = Buffer.from('12345678901234567890');
  expected.forEach((code, counter) => assert.equal(hotp(key, counter), code));
});

test('TOTP matches RFC 6238 Appendix B (SHA-1, 8 digits)', () => {
  const vectors = [
    [59, '94287082'], [1111111109, '07081804'], [1111111111, '14050471'],
    [1234567890, '89005924'], [2000000000, '69279037'], [20000000000, '65353130'],
  ];
  for (const [time, code] of vectors) {
    assert.equal(totp(SEED, { time, digits: 8 }), code, `T = ${time}`);
    // The console's 6 digits are the same truncated value modulo 10^6.
    assert.equal(totp(SEED, { time }), code.slice(2), `T = ${time}, 6 digits`);
  }
});

test('steps are 30 seconds: the code changes at 30 s boundaries only', () => {
  assert.equal(totp(SEED, { time: 30 }), totp(SEED, { time: 59.9 }));
  assert.notEqual(totp(SEED, { time: 59.9 }), totp(SEED, { time: 60 }));
});

test('otpauth URIs give their secret and parameters', () => {
  const p = parseOtpauthUri('otpauth://totp/chukan%200000000000000131:tanaka?secret=' + SEED +
                            '&issuer=chukan%200000000000000131&algorithm=SHA1&digits=6&period=30');
  assert.deepEqual(p, { label: 'chukan 0000000000000131:tanaka', secret: SEED,
                        issuer: 'chukan 0000000000000131', algorithm: 'sha1', digits: 6,
                        period: 30 });
  assert.throws(() => parseOtpauthUri('otpauth://hotp/x?secret=' + SEED), /not a TOTP URI/);
});
