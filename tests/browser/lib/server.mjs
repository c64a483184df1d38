// A throwaway chukan intermediate server (中間サーバー) for one browser test file: a temp dir,
// a minimal configuration (SQLite store, plain HTTP on 127.0.0.1, port 0), tenants made with
// `chukan tenant create`, staff accounts made with `chukan staff add --json`, then
// `chukan server` started and waited for (its "listening on" line, then GET /healthz).
//
//   const server = await startServer({ staff: [{ login: 'tanaka', name: '田中', roles: ['admin'] }] });
//   … server.url, server.staff.tanaka.password, server.staff.tanaka.totpSecret …
//   await server.stop();   // SIGTERM, SIGKILL after 10 s; removes the temp dir
//
// The binary is $CHUKAN_BIN (default build/dev/src/cli/chukan under the repository root).
// CHUKAN_KEEP_TMP=1 keeps the temp dir (configuration, server.log, stdout/stderr) and prints it.
import { execFile, spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const execFileP = promisify(execFile);

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
export const CHUKAN_BIN = path.resolve(ROOT, process.env.CHUKAN_BIN || 'build/dev/src/cli/chukan');

// The organisation (機関コード) tests use unless they name their own.
export const DEFAULT_ORG = '0000000000000131';

const START_TIMEOUT_MS = 60_000;
const STOP_GRACE_MS = 10_000;

// Runs `chukan ARGS…`; resolves with its stdout, rejects with a message holding its stderr.
async function runChukan(args) {
  try {
    const { stdout } = await execFileP(CHUKAN_BIN, args, { maxBuffer: 16 << 20 });
    return stdout;
  } catch (e) {
    if (e.code === 'ENOENT' || e.code === 'EACCES') {
      throw new Error(`cannot run ${CHUKAN_BIN} (${e.code}): build it (make build) or set ` +
                      'CHUKAN_BIN / ビルドするか CHUKAN_BIN を指定してください');
    }
    const out = [e.stderr, e.stdout].filter(Boolean).join('\n').trim();
    throw new Error(`chukan ${args.slice(0, 2).join(' ')} failed (exit ${e.code}): ${out}`);
  }
}

// Whether `chukan --help` lists the subcommand `name`.
export async function hasSubcommand(name) {
  const help = await runChukan(['--help']);
  return new RegExp(`^\\s+${name}\\s`, 'm').test(help);
}

// The minimal server configuration; relative paths are resolved against its directory.
export function serverConfig({ threads = 2, workers = 8, logLevel = 'info', extra = '' } = {}) {
  const quote = (s) => JSON.stringify(s);  // a TOML basic string is a JSON string here
  return `# written by tests/browser/lib/server.mjs
[server]
host = "127.0.0.1"
port = 0
threads = ${threads}
workers = ${workers}
[store]
data_dir = "data"
[keys]
dir = "keys"
[layout]
dir = ${quote(path.join(ROOT, 'data/layout'))}
[log]
level = ${quote(logLevel)}
path = "server.log"
${extra}`;
}

// Parses what `chukan staff add --json` prints: one JSON object
//   {"login": …, "initial_password": …, "totp_uri": … | null, "totp_secret": … | null}
// into { login, password, totpUri, totpSecret }. Throws, quoting the output, on anything else.
export function parseStaffJson(stdout) {
  let o;
  try {
    o = JSON.parse(stdout.trim());
  } catch (e) {
    throw new Error(`chukan staff add --json: not JSON (${e.message}): ${JSON.stringify(stdout)}`);
  }
  const isStringOrNull = (v) => v === null || typeof v === 'string';
  if (o === null || typeof o !== 'object' || Array.isArray(o) || typeof o.login !== 'string' ||
      typeof o.initial_password !== 'string' || o.initial_password === '' ||
      !isStringOrNull(o.totp_uri) || !isStringOrNull(o.totp_secret) ||
      (o.totp_uri === null) !== (o.totp_secret === null)) {
    throw new Error(`chukan staff add --json: unexpected object: ${JSON.stringify(stdout)}`);
  }
  return { login: o.login, password: o.initial_password, totpUri: o.totp_uri,
           totpSecret: o.totp_secret };
}

// `chukan staff add --json` for one member of `org`; resolves with parseStaffJson's object.
// roles: an array of role names (inquirer, approver, replica, auditor, admin).
export async function addStaff(configPath, org, { login, name, roles }) {
  let stdout;
  try {
    stdout = await runChukan(['staff', 'add', '--config', configPath, '--tenant', org,
                              '--login', login, '--name', name, '--role', roles.join(','),
                              '--json']);
  } catch (e) {
    if (!(await hasSubcommand('staff'))) {
      throw new Error(`${CHUKAN_BIN} has no \`staff\` command yet (staff accounts, Issue 12): ` +
                      'a test that needs staff cannot run with this binary');
    }
    throw e;
  }
  const member = parseStaffJson(stdout);
  if (member.login !== login) {
    throw new Error(`chukan staff add --json: asked for login ${login}, got ${member.login}`);
  }
  return member;
}

// Processes still running when node exits (a test that threw before stop) are killed then.
const running = new Set();
process.on('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

// Starts a server. Options:
//   tenants: [{ org, name }]                 (default: one tenant, DEFAULT_ORG)
//   staff:   [{ org?, login, name, roles }]  (default: none; org defaults to the first tenant)
//   config:  options of serverConfig (threads, workers, logLevel, extra TOML)
// Resolves with { url, port, dir, configPath, tenants, staff: { <login>: member }, output(),
// stop() }. Rejects (after stopping what it started) if any step fails.
export async function startServer({ tenants = [{ org: DEFAULT_ORG, name: 'ブラウザテスト市' }],
                                    staff = [], config = {} } = {}) {
  const dir = await mkdtemp(path.join(process.env.TMPDIR || tmpdir(), 'chukan-browser-'));
  const configPath = path.join(dir, 'chukan.toml');
  let child = null;
  let stdout = '';
  let stderr = '';

  async function stop() {
    if (child !== null && child.pid !== undefined && child.exitCode === null &&
        child.signalCode === null) {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), STOP_GRACE_MS);
      await exited;
      clearTimeout(timer);
    }
    if (child !== null) running.delete(child);
    if (process.env.CHUKAN_KEEP_TMP === '1') {
      console.error(`server.mjs: kept ${dir}`);
    } else {
      await rm(dir, { recursive: true, force: true });
    }
  }

  try {
    await writeFile(configPath, serverConfig(config));
    for (const t of tenants) {
      await runChukan(['tenant', 'create', '--config', configPath, '--org', t.org,
                       '--name', t.name]);
    }
    const members = {};
    for (const s of staff) {
      members[s.login] = await addStaff(configPath, s.org || tenants[0].org, s);
    }

    child = spawn(CHUKAN_BIN, ['server', '--config', configPath],
                  { stdio: ['ignore', 'pipe', 'pipe'] });
    running.add(child);
    child.stdout.setEncoding('utf8');
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (d) => { stderr += d; });
    // server_command.cc prints "… listening on http://127.0.0.1:<port>" once it accepts.
    const url = await new Promise((resolve, reject) => {
      const timer = setTimeout(
          () => reject(new Error(`chukan server: no "listening on" within ${START_TIMEOUT_MS} ms`)),
          START_TIMEOUT_MS);
      child.stdout.on('data', (d) => {
        stdout += d;
        const m = /listening on (https?:\/\/127\.0\.0\.1:(\d+))/.exec(stdout);
        if (m) {
          clearTimeout(timer);
          resolve(m[1]);
        }
      });
      child.once('exit', (code, signal) => {
        clearTimeout(timer);
        reject(new Error(`chukan server exited (${signal || code}) before listening: ${stderr}`));
      });
      child.once('error', (e) => {
        clearTimeout(timer);
        reject(new Error(`cannot run ${CHUKAN_BIN}: ${e.message}`));
      });
    });
    const health = await fetch(`${url}/healthz`);
    if (health.status !== 200) throw new Error(`${url}/healthz answered ${health.status}`);

    return {
      url,
      port: Number(new URL(url).port),
      dir,
      configPath,
      tenants,
      staff: members,
      // What the server printed so far, and its log file (for failure messages).
      output: () => ({ stdout, stderr }),
      log: () => readFile(path.join(dir, 'server.log'), 'utf8').catch(() => ''),
      exited: () => child.exitCode !== null || child.signalCode !== null,
      stop,
    };
  } catch (e) {
    await stop();
    throw e;
  }
}
