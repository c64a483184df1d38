// The harness itself: parsing `chukan staff add --json`, and addStaff against the real binary
// (its clear refusal while the binary has no `staff` command; a real account once it has).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { CHUKAN_BIN, DEFAULT_ORG, addStaff, hasSubcommand, parseStaffJson, serverConfig }
  from './server.mjs';
import { parseOtpauthUri } from './totp.mjs';

const SECRET = 'JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP';
const URI = `otpauth://totp/chukan%20${DEFAULT_ORG}:tanaka?secret=${SECRET}&issuer=chukan`;

test('parseStaffJson reads a member with and without TOTP', () => {
  assert.deepEqual(
      parseStaffJson(JSON.stringify({ login: 'tanaka', initial_password: 'Aa1!aaaaaaaaaaaa',
                                      totp_uri: URI, totp_secret: SECRET }) + '\n'),
      { login: 'tanaka', password: 'Aa1!aaaaaaaaaaaa', totpUri: URI, totpSecret: SECRET });
  assert.deepEqual(
      parseStaffJson('{"login":"sato","initial_password":"x","totp_uri":null,"totp_secret":null}'),
      { login: 'sato', password: 'x', totpUri: null, totpSecret: null });
});

test('parseStaffJson refuses anything else, quoting it', () => {
  assert.throws(() => parseStaffJson('created tanaka'), /not JSON.*created tanaka/);
  assert.throws(() => parseStaffJson('[]'), /unexpected object/);
  assert.throws(() => parseStaffJson('{"login":"a","initial_password":""}'), /unexpected object/);
  assert.throws(() => parseStaffJson('{"login":"a","initial_password":"x","totp_uri":"u",' +
                                     '"totp_secret":null}'), /unexpected object/);
});

test('addStaff makes a real account, or says why it cannot', async () => {
  const dir = await mkdtemp(path.join(process.env.TMPDIR || tmpdir(), 'chukan-browser-'));
  try {
    const configPath = path.join(dir, 'chukan.toml');
    await writeFile(configPath, serverConfig());
    await promisify(execFile)(CHUKAN_BIN, ['tenant', 'create', '--config', configPath,
                                           '--org', DEFAULT_ORG, '--name', 'ハーネス']);
    const admin = { login: 'kanri', name: '管理 花子', roles: ['admin'] };
    if (!(await hasSubcommand('staff'))) {
      await assert.rejects(addStaff(configPath, DEFAULT_ORG, admin), /has no `staff` command/);
      return;
    }
    // An admin needs a second factor (server/staff_directory.h): the secret comes with its URI.
    const member = await addStaff(configPath, DEFAULT_ORG, admin);
    assert.equal(member.login, 'kanri');
    assert.ok(member.password.length >= 12);
    assert.equal(parseOtpauthUri(member.totpUri).secret, member.totpSecret);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
