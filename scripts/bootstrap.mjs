#!/usr/bin/env node
// Installs what `npm test` and `npm run demo` need on a fresh machine, before any dependency is
// available (plain Node, no imports outside node:): npm dependencies, InfluxDB 1.x (Debian
// package `influxdb`, never its system service), and a running PostgreSQL and D-Bus daemon binary.
import { execSync, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';

const quiet = { stdio: ['ignore', 'ignore', 'inherit'] };
const has = (cmd) => spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
const isRoot = process.getuid?.() === 0;
const sudo = isRoot ? '' : 'sudo ';

function aptInstall(packages) {
  console.error(`bootstrap: installing ${packages.join(' ')} from the OS packages`);
  execSync(`${sudo}apt-get update -qq`, quiet);
  execSync(`${sudo}env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends ${packages.join(' ')}`, quiet);
}

if (!existsSync('node_modules/.package-lock.json')) {
  // `npm install` honours package-lock.json; `npm ci` is avoided because npm 11 rejects a lock
  // without the foreign-platform optional packages of rollup (npm/cli lockfile bug).
  console.error('bootstrap: installing npm dependencies');
  execSync('npm install --no-audit --no-fund', { stdio: 'inherit' });
}

const missing = [];
if (!has('influxd')) missing.push('influxdb', 'influxdb-client');
if (!has('dbus-daemon')) missing.push('dbus');
if (!has('psql') || !has('pg_ctlcluster')) missing.push('postgresql');
if (!has('mosquitto')) missing.push('mosquitto');
if (missing.length) aptInstall(missing);

// PostgreSQL: the machine's cluster on 127.0.0.1:5432; start it when stopped.
const pgUp = () => spawnSync('pg_isready', ['-h', '127.0.0.1', '-p', '5432', '-q']).status === 0;
if (!pgUp() && has('pg_ctlcluster')) {
  const version = execSync('ls /etc/postgresql').toString().trim().split('\n')[0];
  console.error(`bootstrap: starting PostgreSQL ${version}`);
  spawnSync('sh', ['-c', `${sudo}pg_ctlcluster --skip-systemctl-redirect ${version} main start`], { stdio: 'inherit' });
}
// Mosquitto: the interop and multi-hub tests use the machine's broker on 127.0.0.1:1883
if (has('mosquitto') && spawnSync('pgrep', ['-x', 'mosquitto']).status !== 0) {
  console.error('bootstrap: starting Mosquitto');
  spawnSync('sh', ['-c', `${sudo}mosquitto -d -c /etc/mosquitto/mosquitto.conf`], { stdio: 'inherit' });
}
if (!pgUp()) {
  console.error('bootstrap: PostgreSQL is not reachable on 127.0.0.1:5432 (set VIGIL_PG_URL to use another server)');
}
