// `dmapifs mount --passthrough`: kernel FUSE passthrough for a mount without DMAPI and without a
// capacity limit. Reads, writes, mmap and O_APPEND through the mount behave as on the backing
// directory (the kernel does them on the backing file), another mount of the same directory sees
// them at once, and the options that need every read and write to reach the daemon are refused.
import test from 'ava';
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { useCluster } from './helpers/cluster';

const cluster = useCluster();

const kernelHasPassthrough = (() => {
  const [maj, min] = os.release().split('.').map(Number);
  return maj > 6 || (maj === 6 && min >= 9);
})();

async function mountPt(t: Parameters<typeof cluster.withMount>[0], extra: string[] = [], backing?: string) {
  const b = backing ?? cluster.tmpDir(t, 'dmfs-ptb-');
  const mnt = cluster.tmpDir(t, 'dmfs-ptm-');
  const node = cluster.uniqueNode('pt');
  t.teardown(() => cluster.stopNode(node));
  const r = await cluster.cli(['mount', '--node', node, '--passthrough', ...extra, b, mnt]);
  if (r.code === 0) {
    t.teardown(async () => { await cluster.cli(['umount', '--node', node, '--lazy', mnt]); });
  }
  return { r, backing: b, mnt, node };
}

test.serial('mount --passthrough: reads, writes, O_APPEND and mmap behave as on the backing directory', async (t) => {
  if (!kernelHasPassthrough) return t.pass(`kernel ${os.release()} has no FUSE passthrough`);
  const { r, backing, mnt } = await mountPt(t);
  t.is(r.code, 0, r.stderr);
  const f = path.join(mnt, 'f');
  await fs.promises.writeFile(f, Buffer.alloc(65536, 'x'));
  t.deepEqual(fs.readFileSync(path.join(backing, 'f')), Buffer.alloc(65536, 'x'));
  // A write through an O_APPEND open lands at the end of the file, as natively.
  const fh = await fs.promises.open(f, 'a');
  await fh.write(Buffer.from('tail'));
  await fh.close();
  t.is(fs.statSync(path.join(backing, 'f')).size, 65540);
  // mmap store through the mount, read back on the backing file.
  execFileSync('python3', ['-c', `
import mmap, os
fd = os.open(${JSON.stringify(f)}, os.O_RDWR)
m = mmap.mmap(fd, 4096)
m[0:8] = b"MMAPPED!"
m.flush(); m.close(); os.close(fd)`]);
  t.is(fs.readFileSync(path.join(backing, 'f')).subarray(0, 8).toString(), 'MMAPPED!');
  // A change made on the backing file directly is what the mount reads next.
  fs.writeFileSync(path.join(backing, 'f'), 'changed behind the mount');
  t.is((await fs.promises.readFile(f)).toString(), 'changed behind the mount');
});

test.serial('mount --passthrough: a second mount of the backing directory sees every write at once', async (t) => {
  if (!kernelHasPassthrough) return t.pass(`kernel ${os.release()} has no FUSE passthrough`);
  const a = await mountPt(t);
  t.is(a.r.code, 0, a.r.stderr);
  const b = await mountPt(t, [], a.backing);
  t.is(b.r.code, 0, b.r.stderr);
  const fa = await fs.promises.open(path.join(a.mnt, 'shared'), 'w+');
  const fb = await fs.promises.open(path.join(b.mnt, 'shared'), 'r');
  for (let i = 0; i < 50; i++) {
    const v = Buffer.from(`round ${i}`.padEnd(16, '.'));
    await fa.write(v, 0, 16, 0);
    const got = Buffer.alloc(16);
    await fb.read(got, 0, 16, 0);
    t.deepEqual(got, v, `round ${i}: the open descriptor of the other mount read the new bytes`);
  }
  await fa.close();
  await fb.close();
});

test.serial('mount --passthrough is refused with --capacity, with --dmapi, and on a DMAPI-enabled filesystem', async (t) => {
  const cap = await mountPt(t, ['--capacity', '10M']);
  t.is(cap.r.code, 2);
  t.regex(cap.r.stderr, /--passthrough does not go with --capacity/);
  const dm = await mountPt(t, ['--dmapi']);
  t.is(dm.r.code, 2);
  t.regex(dm.r.stderr, /--passthrough does not go with --dmapi/);
  // A filesystem whose DMAPI was enabled by an earlier mount (persistent, as mmchfs -z yes).
  const backing = cluster.tmpDir(t, 'dmfs-ptd-');
  const mnt = cluster.tmpDir(t, 'dmfs-ptdm-');
  const node = cluster.uniqueNode('ptd');
  t.teardown(() => cluster.stopNode(node));
  await cluster.cliOk(t, ['mount', '--node', node, '--dmapi', '--mount-event-optional', backing, mnt]);
  await cluster.cliOk(t, ['umount', '--node', node, mnt]);
  const en = await mountPt(t, [], backing);
  t.is(en.r.code, 1);
  t.regex(en.r.stderr, /kernel passthrough cannot be used on a DMAPI-enabled filesystem/);
});
