// A public POSIX conformance suite (pjdfstest's chmod, chown, link, mkdir, open, rename, rmdir,
// symlink, truncate and unlink cases, test/helpers/pjd.ts) run as root and as other uids, on the
// mount and on a directory of the backing filesystem's kind: every step must give the same result
// on both, and the result pjdfstest expects on Linux.
import test from 'ava';
import * as fs from 'fs';
import * as path from 'path';
import { runSuite, Step } from './helpers/pjd';
import { tmpDir, useMounts } from './helpers/fs';

const { mount: fsMount } = useMounts();

function prepare(dir: string): string {
  const d = path.join(dir, 'pjd');
  fs.mkdirSync(d);
  fs.chmodSync(d, 0o777);
  return d;
}

test('pjdfstest cases: the mount gives what the backing filesystem gives, and what pjdfstest expects', async (t) => {
  const x = await fsMount(t);
  const native = tmpDir(t, 'dmfs-pjd-');
  t.is(fs.statfsSync(native).type, fs.statfsSync(x.backing).type, 'the native run is on the backing filesystem\'s kind');
  // No supplementary groups: the other uids are judged by their own uid and gid only.
  const groups = process.getgroups!();
  process.setgroups!([]);
  let onMount: Step[];
  let onNative: Step[];
  try {
    onMount = runSuite(prepare(x.mnt));
    onNative = runSuite(prepare(native));
  } finally {
    process.setgroups!(groups);
  }
  t.is(onMount.length, onNative.length);
  t.true(onNative.length > 150, `${onNative.length} steps`);
  const wrongNative = onNative.filter((s) => s.got !== s.expected).map((s) => `${s.line}: expected ${s.expected}, got ${s.got}`);
  t.deepEqual(wrongNative, [], 'the native run gives what pjdfstest expects');
  const differ = onMount.map((s, i) => (s.got !== onNative[i].got ? `${s.line}: mount ${s.got}, native ${onNative[i].got}` : null)).filter(Boolean);
  t.deepEqual(differ, [], 'the mount gives what the backing filesystem gives');
  // And the mount's tree ended as the native one did (modes, owners, sizes, names).
  const list = (root: string): string[] => {
    const out: string[] = [];
    const walk = (rel: string) => {
      for (const n of fs.readdirSync(path.join(root, rel)).sort()) {
        const r = path.join(rel, n);
        const st = fs.lstatSync(path.join(root, r));
        out.push(`${r.length > 80 ? r.slice(0, 40) + '...' + r.length : r} ${st.mode.toString(8)} ${st.uid}:${st.gid} ${st.isDirectory() ? '' : st.size} ${st.nlink}`);
        if (st.isDirectory() && (st.mode & 0o500) && r.length < 3000) walk(r);
      }
    };
    walk('pjd');
    return out;
  };
  t.deepEqual(list(x.mnt), list(native));
});
