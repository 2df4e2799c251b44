// Where the package's native addons are and, when one cannot be loaded, what to do about it. This
// module loads no native code: the CLI's --help, the socket clients and the package root work on a
// machine where nothing was compiled, and only the code that needs an addon fails, saying why.
import * as fs from 'fs';
import * as path from 'path';

/** The package root: the first directory above this file with package.json and native/. */
export function packageRoot(): string {
  let dir = __dirname;
  for (;;) {
    if (fs.existsSync(path.join(dir, 'package.json')) && fs.existsSync(path.join(dir, 'native'))) return dir;
    const up = path.dirname(dir);
    if (up === dir) return path.resolve(__dirname, '..', '..', '..');
    dir = up;
  }
}

/** What scripts/install.js wrote when it could not build the native parts (npm hides its output). */
export const BUILD_STATUS = path.join('native', 'build-status.json');

/**
 * One line on how to get the addon built: the Debian packages install found missing (if it ran and
 * failed), then the command that builds it here (a checkout, or an installed package).
 */
export function buildHint(root: string = packageRoot()): string {
  let missing: string[] = [];
  try {
    const st = JSON.parse(fs.readFileSync(path.join(root, BUILD_STATUS), 'utf8')) as { missing?: string[] };
    missing = Array.isArray(st.missing) ? st.missing : [];
  } catch { /* never written: a checkout, or the build did not get that far */ }
  const inCheckout = fs.existsSync(path.join(root, '.git')) || fs.existsSync(path.join(root, 'tsconfig.json'));
  const build = inCheckout ? 'npm run build' : 'npm rebuild dmapifs';
  const apt = missing.length ? `apt-get install -y ${missing.join(' ')}, then ` : '';
  return `${missing.length ? `missing system packages: ${missing.join(', ')}; ` : ''}${apt}${build}`;
}
