// The CLI and the daemon against misuse: a node never unmounts another node's mount, a backing
// directory is never another dmapifs mount, an unmounted backing filesystem is not kept busy, the
// daemon's files are root's, bad input from local users cannot flood the log, and users other than
// root get a clear "permission denied" at once instead of waits and wrong states.
import test, { ExecutionContext } from 'ava';
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { fuseMountsAt, pidAlive, useCluster } from './helpers/cluster';

const cluster = useCluster();
// As /run/dmapifs: other users may reach the node directories (the daemon makes them 0711).
fs.chmodSync(cluster.runDir, 0o755);
const NOBODY = ['--reuid', '65534', '--regid', '65534', '--clear-groups'];

async function mounted(t: ExecutionContext, node: string, backing?: string): Promise<{ backing: string; mnt: string }> {
  const b = backing ?? cluster.tmpDir(t, 'dmfs-back-');
  const mnt = cluster.tmpDir(t, 'dmfs-mnt-');
  t.teardown(() => cluster.unmount(mnt));
  await cluster.cliOk(t, ['mount', '--node', node, b, mnt]);
  return { backing: b, mnt };
}

test('umount --node X of a mount that node Y serves is refused (Y keeps it); Y unmounts it', async (t) => {
  const a = (await cluster.startNode(t)).node;
  const b = (await cluster.startNode(t)).node;
  const { mnt } = await mounted(t, a);
  const r = await cluster.cli(['umount', '--node', b, mnt]);
  t.is(r.code, 1);
  t.regex(r.stderr, new RegExp(`not served by node ${b} but by node ${a}`));
  t.is(r.stderr.trim().split('\n').length, 1, 'one line');
  t.is(fuseMountsAt(mnt).length, 1, 'still mounted');
  await cluster.cliOk(t, ['umount', '--node', a, mnt]);
  t.is(fuseMountsAt(mnt).length, 0);
});

test('a backing directory inside another node\'s dmapifs mount is refused', async (t) => {
  const a = (await cluster.startNode(t)).node;
  const b = (await cluster.startNode(t)).node;
  const { mnt } = await mounted(t, a);
  fs.mkdirSync(path.join(mnt, 'sub'));
  const other = cluster.tmpDir(t, 'dmfs-mnt-');
  t.teardown(() => cluster.unmount(other));
  for (const backing of [mnt, path.join(mnt, 'sub')]) {
    const r = await cluster.cli(['mount', '--node', b, backing, other]);
    t.is(r.code, 1, backing);
    t.regex(r.stderr, new RegExp(`inside ${mnt}, a dmapifs mount \\(node ${a}\\)`));
    t.is(fuseMountsAt(other).length, 0);
  }
});

test('after dmapifs umount the backing filesystem is not busy: the daemon keeps nothing of it open', async (t) => {
  const node = (await cluster.startNode(t)).node;
  const fsDir = cluster.tmpDir(t, 'dmfs-tmpfs-');
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=16m', 'i11b-backing', fsDir]);
  t.teardown(() => { try { execFileSync('umount', ['-l', fsDir], { stdio: 'ignore' }); } catch { /* unmounted */ } });
  const { mnt } = await mounted(t, node, fsDir);
  fs.writeFileSync(path.join(mnt, 'f'), 'data');
  fs.mkdirSync(path.join(mnt, 'd'));
  fs.readdirSync(mnt);
  await cluster.cliOk(t, ['umount', mnt]);
  // The daemon is still running; the backing filesystem unmounts cleanly (no lazy detach).
  t.true(pidAlive(cluster.daemonPid(node)!));
  t.notThrows(() => execFileSync('umount', [fsDir], { stdio: 'pipe' }));
});

test('dmapi-fstab.json (mount points and their backing directories) is readable by root only', async (t) => {
  const node = (await cluster.startNode(t)).node;
  await mounted(t, node);
  const f = path.join(cluster.nodeDir(node), 'dmapi-fstab.json');
  t.true(fs.existsSync(f));
  t.is(fs.statSync(f).mode & 0o077, 0);
});

test('bad frames from a local user who reconnects in a loop grow daemon.log by a few lines only', async (t) => {
  const node = (await cluster.startNode(t)).node;
  const log = cluster.logFile(node);
  const flood = `
    const net = require('net');
    const [sock, ms] = [process.argv[1], Number(process.argv[2])];
    let conns = 0;
    const end = Date.now() + ms;
    const one = () => {
      if (Date.now() > end) { console.log(conns); process.exit(0); }
      conns++;
      const s = net.createConnection(sock);
      s.on('error', () => {});
      s.on('close', () => setImmediate(one));
      s.on('connect', () => s.write(Buffer.alloc(4096, 0xff)));
      s.on('data', () => {});
    };
    one();`;
  for (const sock of ['dmapi.sock', 'dlm.sock']) {
    const before = fs.statSync(log).size;
    const out = execFileSync('setpriv', [...NOBODY, process.execPath, '-e', flood, path.join(cluster.nodeDir(node), sock), '1500'], { encoding: 'utf8' });
    const conns = Number(out.trim());
    const grown = fs.statSync(log).size - before;
    t.true(conns >= 20, `${sock}: ${conns} connections`);
    t.true(grown < 2048, `${sock}: ${conns} bad connections grew the log by ${grown} bytes`);
  }
  t.regex(fs.readFileSync(log, 'utf8'), /uid 65534/, 'the first ones are logged');
});

test('another user: node stop says permission denied at once; status shows the node running, not "NOT ANSWERING"', async (t) => {
  const { node, pid } = await cluster.startNode(t);
  const cli = (args: string[]) => cluster.cli(args, { wrap: ['setpriv', ...NOBODY], timeoutMs: 15000 });
  const stop = await cli(['node', 'stop', '--node', node]);
  t.is(stop.code, 1, 'exits (long before a 40 s wait for the daemon)');
  t.regex(stop.stderr, /^dmapifs: permission denied: stopping node .* needs root/);
  t.is(stop.stderr.trim().split('\n').length, 1);
  t.true(pidAlive(pid));
  const st = await cli(['status']);
  t.is(st.code, 0);
  // Only this test's node: other tests of the file start and stop nodes in the same run directory.
  t.notRegex(st.stdout, new RegExp(`node ${node}: NOT ANSWERING`));
  t.regex(st.stdout, new RegExp(`node ${node}: running, pid ${pid} \\(permission denied`));
  const one = await cli(['node', 'status', '--node', node, '--json']);
  t.like(JSON.parse(one.stdout), { node, state: 'denied', pid });
});
