#!/usr/bin/env node
// npm's install step for an installed dmapifs (`npm install dmapifs`, `npm rebuild dmapifs`): builds
// the native parts from source (the FUSE binding and the syscall addon with node-gyp, libdm with
// make), after checking for what they need and naming the Debian packages that are missing.
//
// A machine without them still gets a working install of the parts that need no native code (the
// socket clients dmapifs/dmapi and dmapifs/dlm, `dmapifs --help`): the step then prints what is
// missing, records it in native/build-status.json (npm hides an install script's output when it
// succeeds; the code that needs an addon repeats it when it fails to load one) and exits 0.
// DMAPIFS_REQUIRE_NATIVE=1 makes a missing prerequisite or a failed build fail the install.
// In a git checkout this step does nothing: `npm run build` (scripts/setup.sh) builds there.
'use strict';
const { spawnSync } = require('child_process');
const fs = require('fs');
const path = require('path');

const root = path.resolve(__dirname, '..');
const statusFile = path.join(root, 'native', 'build-status.json');
const strict = process.env.DMAPIFS_REQUIRE_NATIVE === '1';

if (fs.existsSync(path.join(root, '.git')) || fs.existsSync(path.join(root, 'tsconfig.json'))) process.exit(0);

const ok = (cmd, args) => spawnSync(cmd, args, { stdio: 'ignore' }).status === 0;
const nodeHeaders = ['/usr', '/usr/local'].some((d) => fs.existsSync(path.join(d, 'include/node/node_api.h')));

// What each part needs, as Debian packages (the names apt-get takes).
const missing = [];
if (!ok('cc', ['--version']) || !ok('make', ['--version']) || !ok('c++', ['--version'])) missing.push('build-essential');
if (!ok('python3', ['--version'])) missing.push('python3');
if (!ok('pkg-config', ['--version'])) missing.push('pkg-config');
else if (!ok('pkg-config', ['--exists', 'fuse3'])) missing.push('libfuse3-dev');
if (!nodeHeaders) missing.push('libnode-dev');

function done(status, message) {
  try { fs.writeFileSync(statusFile, `${JSON.stringify({ status, missing, message }, null, 2)}\n`); } catch { /* read-only */ }
  if (status === 'built') return process.exit(0);
  process.stderr.write(`dmapifs: ${message}\n`);
  process.stderr.write('dmapifs: the DMAPI and DLM clients (dmapifs/dmapi, dmapifs/dlm) and `dmapifs --help` work without the native parts;\n');
  process.stderr.write('dmapifs: mounting needs them.\n');
  process.exit(strict ? 1 : 0);
}

// libnode-dev only spares node-gyp a download of Node's headers: go on without it.
const blocking = missing.filter((p) => p !== 'libnode-dev');
if (blocking.length) {
  done('missing', `cannot build the native parts: missing system packages: ${blocking.join(', ')} ` +
    `(apt-get install -y ${blocking.join(' ')}, then npm rebuild dmapifs)`);
}
const r = spawnSync(process.execPath, [path.join(__dirname, 'build-native.js')], { cwd: root, stdio: 'inherit' });
if (r.status !== 0) done('failed', 'building the native parts failed (see the output above); fix it, then npm rebuild dmapifs');
done('built', 'built');
