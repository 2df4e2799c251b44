#!/usr/bin/env node
// Builds the project's native code with node-gyp: our fuse-native binding (native/fuse) and the
// syscall addon (native/sys), then the C DMAPI library (native/libdm, make) and the C DLM library (native/libdlm, make). Node's headers are taken from the system (Debian's libnode-dev or the
// image's /usr/include/node) when present, so the build never downloads anything.
'use strict';
const { spawnSync } = require('child_process');
const fs = require('fs');
const path = require('path');

const root = path.resolve(__dirname, '..');
// node-gyp is a dependency; npm's own copy (which npm names to its lifecycle scripts) will do too.
let gyp;
try {
  gyp = require.resolve('node-gyp/bin/node-gyp.js', { paths: [root] });
} catch (e) {
  gyp = process.env.npm_config_node_gyp;
  if (!gyp || !fs.existsSync(gyp)) throw e;
}
const args = ['rebuild'];
for (const dir of ['/usr', '/usr/local']) {
  if (fs.existsSync(path.join(dir, 'include/node/node_api.h'))) { args.push(`--nodedir=${dir}`); break; }
}
const only = process.argv.slice(2);
for (const name of ['fuse', 'sys']) {
  if (only.length && !only.includes(name)) continue;
  const cwd = path.join(root, 'native', name);
  if (!fs.existsSync(path.join(cwd, 'binding.gyp'))) continue;
  const r = spawnSync(process.execPath, [gyp, ...args], { cwd, stdio: ['ignore', 'inherit', 'inherit'] });
  if (r.status !== 0) {
    console.error(`build-native: node-gyp failed in native/${name}`);
    process.exit(1);
  }
}

// libdm (the C DMAPI library, native/libdm): plain make, builds native/libdm/build/libdm.so.
if (!only.length || only.includes('libdm')) {
  const r = spawnSync('make', ['-C', path.join(root, 'native', 'libdm')], { stdio: ['ignore', 'inherit', 'inherit'] });
  if (r.status !== 0) {
    console.error('build-native: make failed in native/libdm');
    process.exit(1);
  }
}
// libdlm (the C DLM library, native/libdlm): plain make, builds native/libdlm/build/libdlm-dmapifs.so.1.
if (!only.length || only.includes('libdlm')) {
  const r = spawnSync('make', ['-C', path.join(root, 'native', 'libdlm')], { stdio: ['ignore', 'inherit', 'inherit'] });
  if (r.status !== 0) {
    console.error('build-native: make failed in native/libdlm');
    process.exit(1);
  }
}
