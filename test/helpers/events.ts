// Helpers of the event tests (test/events-*.test.ts): a DMAPI-enabled mount on a node of the
// test file's cluster, a session with clean-up, child processes that block on events, and an HSM
// "migrate" step done through the TypeScript client.
import { ChildProcess, spawn } from 'child_process';
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import type { ExecutionContext } from 'ava';
import { connect, DmapiClient, DmEventMsg, EventOf } from '../../src/dmapi/client';
import * as C from '../../src/dmapi/constants';
import { Cluster, waitFor } from './cluster';

export { C };

export interface EvMount {
  node: string;
  backing: string;
  mnt: string;
  dm: DmapiClient;
  sid: number;
  fsh: Buffer;
  m(...p: string[]): string;
}

/**
 * Mounts a fresh backing directory with --dmapi on `node` (started on first use), connects a
 * client, creates a session with the given dispositions on the filesystem. Clean-up: answers what is
 * left outstanding (CONTINUE), drains, destroys the session, unmounts.
 */
export async function evMount(t: ExecutionContext, cluster: Cluster, node: string, disp: number[], extra: string[] = []): Promise<EvMount> {
  const backing = cluster.tmpDir(t, 'dmfs-back-');
  const mnt = cluster.tmpDir(t, 'dmfs-mnt-');
  const r = await cluster.cli(['mount', '--node', node, '--dmapi', '--mount-event-optional', ...extra, backing, mnt]);
  if (r.code !== 0) throw new Error(`mount failed: ${r.stderr}`);
  const dm = await connect({ node, runDir: cluster.runDir });
  const sid = await dm.createSession(0, `t${process.pid}`);
  t.teardown(async () => {
    // Release anything still blocked, then the session and the mount.
    for (let i = 0; i < 3; i++) {
      for (const tok of await dm.getallTokens(sid).catch(() => [] as number[])) await dm.respondEvent(sid, tok, C.DM_RESP_CONTINUE, 0).catch(() => undefined);
      await dm.getEvents(sid, 0, 0).catch(() => undefined);
    }
    await dm.setDisp(sid, await dm.pathToFshandle(mnt).catch(() => Buffer.alloc(0)), C.DM_NO_TOKEN, []).catch(() => undefined);
    await cluster.cli(['umount', '--node', node, mnt]);
    if (fs.readFileSync('/proc/self/mountinfo', 'utf8').includes(` ${mnt} `)) await cluster.cli(['umount', '--node', node, '--lazy', mnt]);
    await dm.destroySession(sid).catch(() => undefined);
    dm.close();
  });
  const fsh = await dm.pathToFshandle(mnt);
  if (disp.length) await dm.setDisp(sid, fsh, C.DM_NO_TOKEN, disp);
  return { node, backing, mnt, dm, sid, fsh, m: (...p) => path.join(mnt, ...p) };
}

export interface Child {
  proc: ChildProcess;
  done: Promise<{ code: number | null; stdout: Buffer; stderr: string }>;
  exited(): boolean;
  /** `done`, or a failure naming the command when it is still running after `ms` (blocked on an event nobody answered?). */
  finish(ms?: number): Promise<{ code: number | null; stdout: Buffer; stderr: string }>;
}

/** Runs a command; its output is collected; killed in teardown if still running. */
export function run(t: ExecutionContext, cmd: string, args: string[]): Child {
  const proc = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const out: Buffer[] = [];
  let err = '';
  let exited = false;
  proc.stdout!.on('data', (b: Buffer) => out.push(b));
  proc.stderr!.on('data', (b: Buffer) => { err += b.toString(); });
  const done = new Promise<{ code: number | null; stdout: Buffer; stderr: string }>((resolve) => {
    proc.on('close', (code) => { exited = true; resolve({ code, stdout: Buffer.concat(out), stderr: err }); });
  });
  t.teardown(() => { if (!exited) proc.kill('SIGKILL'); });
  const finish = async (ms = 10000) => {
    let timer: NodeJS.Timeout | undefined;
    const to = new Promise<never>((_, rej) => {
      timer = setTimeout(() => rej(new Error(`${cmd} ${args.join(' ')} still running after ${ms} ms (blocked on an event nobody answered?)`)), ms);
    });
    try {
      return await Promise.race([done, to]);
    } finally {
      clearTimeout(timer);
    }
  };
  return { proc, done, exited: () => exited, finish };
}

/** A Python one-liner that reads [off, off+len) of a file through mmap (MAP_SHARED or MAP_PRIVATE). */
export function mmapRead(t: ExecutionContext, file: string, off: number, len: number, shared = true): Child {
  const py = `import mmap,os,sys
fd=os.open(sys.argv[1],os.O_RDONLY)
m=mmap.mmap(fd,0,flags=${shared ? 'mmap.MAP_SHARED' : 'mmap.MAP_PRIVATE'},prot=mmap.PROT_READ)
sys.stdout.buffer.write(m[int(sys.argv[2]):int(sys.argv[2])+int(sys.argv[3])])`;
  return run(t, 'python3', ['-c', py, file, String(off), String(len)]);
}

/** The name of an event type (DM_EVENT_READ for 16). */
export function eventName(type: number): string {
  for (const [k, v] of Object.entries(C)) if (k.startsWith('DM_EVENT_') && v === type && k !== 'DM_EVENT_MAX') return k;
  return `event type ${type}`;
}

/** Waits for the next event of the session (DM_EV_WAIT), with a deadline; `what` names it in the failure. */
export async function nextEvent(dm: DmapiClient, sid: number, timeoutMs = 10000, what = 'the next event') {
  let timer: NodeJS.Timeout | undefined;
  let stop = false;
  const to = new Promise<never>((_, rej) => {
    timer = setTimeout(() => { stop = true; rej(new Error(`${what} never arrived (session ${sid}, waited ${timeoutMs} ms)`)); }, timeoutMs);
  });
  try {
    const p = (async () => {
      while (!stop) {
        try {
          const [m] = await dm.getEvents(sid, 1, 0);
          return m;
        } catch (e) {
          if ((e as { code?: string }).code !== 'EAGAIN') throw e;
          await new Promise((r) => setTimeout(r, 2));
        }
      }
      return undefined as never;
    })();
    return await Promise.race([p, to]);
  } finally {
    clearTimeout(timer);
  }
}

/** The next event must be of `type`: otherwise a failure naming the event expected and the one that came. */
export async function expectEvent<T extends DmEventMsg['type']>(dm: DmapiClient, sid: number, type: T, context = '', timeoutMs = 10000): Promise<EventOf<T>> {
  const label = `${eventName(type)}${context ? ` (${context})` : ''}`;
  const m = await nextEvent(dm, sid, timeoutMs, label);
  if (m.type !== type) throw new Error(`expected ${label}, got ${eventName(m.type)} (token ${m.token})`);
  return m as EventOf<T>;
}

/** No event arrives within `ms`. */
export async function noEvent(dm: DmapiClient, sid: number, ms = 300): Promise<boolean> {
  await new Promise((r) => setTimeout(r, ms));
  try {
    await dm.getEvents(sid, 0, 0);
    return false;
  } catch (e) {
    return (e as { code?: string }).code === 'EAGAIN';
  }
}

/**
 * Writes `size` random bytes to `file` (through the mount) and migrates it into a fresh archive
 * directory: the original bytes, the archive copy's path and the file's handle.
 */
export async function migrated(t: ExecutionContext, cluster: Cluster, dm: DmapiClient, sid: number, file: string, size: number): Promise<{ orig: Buffer; archive: string; h: Buffer }> {
  const orig = crypto.randomBytes(size);
  fs.writeFileSync(file, orig);
  const archive = path.join(cluster.tmpDir(t, 'dmfs-arch-'), path.basename(file));
  const h = await migrate(dm, sid, file, archive);
  return { orig, archive, h };
}

/**
 * The HSM's answer to a READ: recall the file from its archive copy and answer CONTINUE; the
 * blocked reader must then exit 0 having printed the original bytes.
 */
export async function recallAndCheck(t: ExecutionContext, dm: DmapiClient, sid: number, ev: DmEventMsg, h: Buffer, archive: string, reader: Child, orig: Buffer): Promise<void> {
  await recall(dm, sid, ev.token, h, archive);
  await dm.respondEvent(sid, ev.token, C.DM_RESP_CONTINUE, 0);
  const r = await reader.finish();
  t.is(r.code, 0, r.stderr);
  t.true(r.stdout.equals(orig), 'the reader printed the original bytes');
}

/** HSM migration through DMAPI: copy out with read_invis, set a DM attribute, punch the data, set a region. */
export async function migrate(dm: DmapiClient, sid: number, file: string, archive: string, flags = C.DM_REGION_READ | C.DM_REGION_WRITE | C.DM_REGION_TRUNCATE): Promise<Buffer> {
  const h = await dm.pathToHandle(file);
  const parts: Buffer[] = [];
  for (let off = 0; ; ) {
    const b = await dm.readInvis(sid, h, C.DM_NO_TOKEN, off, 65536);
    if (!b.length) break;
    parts.push(b);
    off += b.length;
  }
  const data = Buffer.concat(parts);
  fs.writeFileSync(archive, data);
  await dm.setDmattr(sid, h, C.DM_NO_TOKEN, 'hsmstate', Buffer.from('migrated'));
  await dm.punchHole(sid, h, C.DM_NO_TOKEN, 0, 0);
  await dm.setRegion(sid, h, C.DM_NO_TOKEN, [{ offset: 0n, size: 0n, flags, opaque: 0 }]);
  return h;
}

/** HSM recall: write the archived bytes back invisibly and clear the regions. */
export async function recall(dm: DmapiClient, sid: number, token: number, h: Buffer, archive: string): Promise<void> {
  const data = fs.readFileSync(archive);
  // The token comes with no rights (GPFS): take the exclusive right for the recall.
  if (token !== C.DM_NO_TOKEN) await dm.requestRight(sid, h, token, C.DM_RR_WAIT, C.DM_RIGHT_EXCL);
  for (let off = 0; off < data.length; off += 65536) {
    await dm.writeInvis(sid, h, token, off, data.subarray(off, off + 65536));
  }
  await dm.setRegion(sid, h, token, []);
  await dm.setDmattr(sid, h, token, 'hsmstate', Buffer.from('resident'));
}

/**
 * Takes the exclusive DM right on a file with a token of its own (a user event), as a DM application
 * holding the file does; the returned function releases it and answers the token.
 */
export async function holdRight(dm: DmapiClient, sid: number, h: Buffer): Promise<() => Promise<void>> {
  const tok = await dm.createUserevent(sid, Buffer.from('hold'));
  await dm.requestRight(sid, h, tok, C.DM_RR_WAIT, C.DM_RIGHT_EXCL);
  return async () => {
    await dm.releaseRight(sid, h, tok);
    await dm.respondEvent(sid, tok, C.DM_RESP_CONTINUE, 0);
  };
}

export { waitFor };

/** A USER event's data (dm_send_msg, dm_create_userevent); any other event fails the test. */
export function userData(m: DmEventMsg): Buffer {
  if (m.type !== C.DM_EVENT_USER) throw new Error(`expected a USER event, got ${eventName(m.type)}`);
  return m.data;
}
