// The package's version, read from its package.json: the CLI prints it (--version) and the daemon
// reports it (status) without either loading the other, or any native code.
import * as fs from 'fs';
import * as path from 'path';

export const VERSION: string = (() => {
  // dist/src/common → the package root (and src/common when run from the sources).
  for (const rel of ['../../../package.json', '../../package.json']) {
    try {
      const p = path.join(__dirname, rel);
      if (fs.existsSync(p)) return JSON.parse(fs.readFileSync(p, 'utf8')).version as string;
    } catch { /* the next candidate */ }
  }
  return '0.0.0';
})();
