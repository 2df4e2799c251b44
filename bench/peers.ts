// Peer systems that benchmarks build at run time from ../shared/peers (never installed over the
// system's libraries): each is built once into a scratch directory keyed by the tarball's sha256
// and reused by later runs.
import { spawnSync } from 'child_process';
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as path from 'path';

const REPO = path.resolve(__dirname, '..', '..');
const PEERS = path.resolve(REPO, '..', 'shared', 'peers');
const SCRATCH = '/tmp/dmapifs-peers';

export interface Built { prog: string | null; why?: string }

/** Compiles one of bench/native/*.c into dir (cc -O2, extra args after the source). */
export function compileNative(src: string, dir: string, args: string[] = []): Built {
  const prog = path.join(dir, path.basename(src, '.c'));
  const r = spawnSync('cc', ['-O2', '-o', prog, path.join(REPO, 'bench', 'native', src), ...args], { encoding: 'utf8' });
  if (r.status !== 0) return { prog: null, why: `${src} did not compile: ${(r.stderr || r.error?.message || '').trim().split('\n')[0]}` };
  return { prog };
}

const LIBFUSE = 'libfuse-3.18.2.tar.gz';
const LIBFUSE_SHA256 = '626c03d6c70b44a097d15b25c4e994a0ab3566e5f7459b7f4628ef0eaa55fc62';

function run(cmd: string, args: string[], cwd: string): string | null {
  const r = spawnSync(cmd, args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  if (r.error) return `${cmd}: ${r.error.message}`;
  if (r.status !== 0) return `${cmd} ${args[0]} failed: ${(r.stderr || r.stdout).trim().split('\n').slice(-1)[0]}`;
  return null;
}

/**
 * libfuse 3.18.2's example/passthrough_hp (the fastest public FUSE passthrough: kernel FUSE
 * passthrough by default, --nopassthrough for the daemon path), built with meson and ninja.
 */
export function passthroughHp(): Built {
  const tarball = path.join(PEERS, LIBFUSE);
  if (!fs.existsSync(tarball)) return { prog: null, why: `${tarball} not found` };
  const sha = crypto.createHash('sha256').update(fs.readFileSync(tarball)).digest('hex');
  if (sha !== LIBFUSE_SHA256) return { prog: null, why: `${LIBFUSE}: sha256 ${sha}, expected ${LIBFUSE_SHA256}` };
  const dir = path.join(SCRATCH, sha.slice(0, 16));
  const src = path.join(dir, 'libfuse-3.18.2');
  const prog = path.join(src, 'build', 'example', 'passthrough_hp');
  if (fs.existsSync(prog)) return { prog };
  for (const tool of ['meson', 'ninja']) {
    if (spawnSync('sh', ['-c', `command -v ${tool}`]).status !== 0) return { prog: null, why: `${tool} not installed (apt-get install meson ninja-build; scripts/setup.sh does)` };
  }
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(dir, { recursive: true });
  const why = run('tar', ['xzf', tarball, '-C', dir], dir) ??
    run('meson', ['setup', 'build', '-Dbuildtype=release', '-Dtests=false', '-Duseroot=false', '-Dinitscriptdir=', `-Dudevrulesdir=${path.join(src, 'udev')}`], src) ??
    run('ninja', ['-C', 'build', 'example/passthrough_hp'], src);
  if (why) return { prog: null, why: `building passthrough_hp: ${why}` };
  return fs.existsSync(prog) ? { prog } : { prog: null, why: 'passthrough_hp was not built' };
}
