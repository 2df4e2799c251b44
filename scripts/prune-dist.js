#!/usr/bin/env node
// Removes compiled files of dist/ whose TypeScript source is gone (a module moved or deleted), so
// that `npm pack` (prepack) never ships a stale module. Touches nothing that has a source.
'use strict';
const fs = require('fs');
const path = require('path');

const root = path.resolve(__dirname, '..');
const dist = path.join(root, 'dist');
let removed = 0;
function walk(dir) {
  if (!fs.existsSync(dir)) return;
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) { walk(p); continue; }
    const m = /^(.*?)(\.d\.ts|\.js\.map|\.js)$/.exec(path.relative(dist, p));
    if (!m) continue;
    if (!fs.existsSync(path.join(root, `${m[1]}.ts`))) { fs.rmSync(p); removed++; }
  }
}
for (const d of ['src', 'examples']) walk(path.join(dist, d));
if (removed) process.stdout.write(`prune-dist: removed ${removed} stale file(s)\n`);
