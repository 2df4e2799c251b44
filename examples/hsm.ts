// A small HSM on dmapifs, written with the TypeScript DMAPI client: migrate files to an archive
// directory and recall them when an application touches them.
//
//   node dist/examples/hsm.js serve   [--node NODE] --archive DIR [--mnt MOUNTPOINT]  (the daemon side)
//   node dist/examples/hsm.js migrate [--node NODE] --archive DIR FILE...              (move data out)
//
// serve: creates (or, after a crash, assumes) the session "dmapifs-demo-hsm" and takes the MOUNT
// disposition of the node (the global handle), answers again what was left outstanding, then
// prints each event as it happens. As on GPFS, it is started before the filesystems it manages are
// mounted: each MOUNT event gives it the filesystem's handle, on which it takes the READ, WRITE,
// TRUNCATE and DESTROY dispositions before answering CONTINUE (dispositions do not outlive the
// session's daemon); --mnt does the same at once for a filesystem already mounted. Stopped with
// SIGTERM or SIGINT it destroys its session; killed, it leaves it to be assumed by the next run.
// READ/WRITE/TRUNCATE on a migrated file:
// exclusive right → write_invis the archived bytes back → clear the regions → mark it resident →
// CONTINUE. DESTROY: the archive copy named by the return-on-destroy attribute is deleted.
//
// migrate: read_invis the file into DIR/<id> → DM attribute "hsmid" = <id> → punch_hole →
// a managed region covering the whole file for READ|WRITE|TRUNCATE.
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import { connect, DmapiClient, DmapiError, type DmDataEvent, type DmEventMsg } from '../src/dmapi/client';
import * as C from '../src/dmapi/constants';

const SESSION = 'dmapifs-demo-hsm';
const ATTR = 'hsmid';

function opt(name: string): string {
  const i = process.argv.indexOf(`--${name}`);
  if (i < 0 || !process.argv[i + 1]) throw new Error(`--${name} is required`);
  return process.argv[i + 1];
}
/** --name VALUE when given (--node defaults to this host's node, as libdm). */
function optional(name: string): string | undefined {
  return process.argv.includes(`--${name}`) ? opt(name) : undefined;
}
const ts = () => new Date().toISOString().slice(11, 23);
const say = (s: string) => process.stdout.write(`[hsm ${ts()}] ${s}\n`);

async function session(dm: DmapiClient): Promise<number> {
  for (const sid of await dm.getallSessions()) {
    if ((await dm.querySession(sid)) === SESSION) return dm.createSession(sid, SESSION); // assume it (recovery)
  }
  return dm.createSession(C.DM_NO_SESSION, SESSION);
}

async function migrate(dm: DmapiClient, sid: number, archive: string, file: string): Promise<void> {
  const h = await dm.pathToHandle(file);
  const id = crypto.randomBytes(6).toString('hex');
  const parts: Buffer[] = [];
  for (let off = 0; ; ) {
    const b = await dm.readInvis(sid, h, C.DM_NO_TOKEN, off, 65536);
    if (!b.length) break;
    parts.push(b);
    off += b.length;
  }
  const data = Buffer.concat(parts);
  // A copy from an earlier migration (the file was recalled since) is replaced by this one.
  const old = (await dm.getDmattr(sid, h, C.DM_NO_TOKEN, ATTR).catch(() => null))?.toString();
  if (old && /^[0-9a-f]+$/.test(old)) fs.rmSync(path.join(archive, old), { force: true });
  fs.writeFileSync(path.join(archive, id), data);
  await dm.setDmattr(sid, h, C.DM_NO_TOKEN, ATTR, Buffer.from(id));
  await dm.punchHole(sid, h, C.DM_NO_TOKEN, 0, 0);
  await dm.setRegion(sid, h, C.DM_NO_TOKEN, [{ offset: 0n, size: 0n, flags: C.DM_REGION_READ | C.DM_REGION_WRITE | C.DM_REGION_TRUNCATE, opaque: 0 }]);
  say(`migrated ${file}: ${data.length} bytes → ${path.join(archive, id)}, data punched out, region READ|WRITE|TRUNCATE set`);
}

async function recall(dm: DmapiClient, sid: number, archive: string, ev: DmDataEvent): Promise<void> {
  const h = ev.handle;
  await dm.requestRight(sid, h, ev.token, C.DM_RR_WAIT, C.DM_RIGHT_EXCL);
  const id = (await dm.getDmattr(sid, h, ev.token, ATTR)).toString();
  const data = fs.readFileSync(path.join(archive, id));
  for (let off = 0; off < data.length; off += 65536) await dm.writeInvis(sid, h, ev.token, off, data.subarray(off, off + 65536));
  await dm.setRegion(sid, h, ev.token, []);
  say(`  recalled ${data.length} bytes from ${path.join(archive, id)} with write_invis, region cleared`);
}

/** Takes the dispositions this HSM serves on one filesystem. */
async function manage(dm: DmapiClient, sid: number, fsh: Buffer): Promise<void> {
  await dm.setDisp(sid, fsh, C.DM_NO_TOKEN, [C.DM_EVENT_READ, C.DM_EVENT_WRITE, C.DM_EVENT_TRUNCATE, C.DM_EVENT_DESTROY]);
  await dm.setEventlist(sid, fsh, C.DM_NO_TOKEN, [C.DM_EVENT_DESTROY]);
  await dm.setReturnOnDestroy(sid, fsh, C.DM_NO_TOKEN, ATTR, true);
}

async function handle(dm: DmapiClient, sid: number, archive: string, ev: DmEventMsg): Promise<void> {
  const name = C.EVENT_NAMES[ev.type] ?? String(ev.type);
  if (ev.type === C.DM_EVENT_MOUNT) {
    say(`event MOUNT token ${ev.token}: ${ev.device} at ${ev.mountPoint}`);
    await manage(dm, sid, ev.fsHandle);
    await dm.respondEvent(sid, ev.token, C.DM_RESP_CONTINUE, 0);
    say(`  took READ, WRITE, TRUNCATE, DESTROY for ${ev.mountPoint}; answered CONTINUE: the mount goes on`);
  } else if (ev.type === C.DM_EVENT_READ || ev.type === C.DM_EVENT_WRITE || ev.type === C.DM_EVENT_TRUNCATE) {
    say(`event ${name} token ${ev.token} handle ${ev.handle.toString('hex').slice(16, 32)} offset ${ev.offset} length ${ev.length}`);
    try {
      await recall(dm, sid, archive, ev);
      await dm.respondEvent(sid, ev.token, C.DM_RESP_CONTINUE, 0);
      say(`  answered CONTINUE: the application goes on`);
    } catch (e) {
      say(`  recall failed (${(e as Error).message}): answering ABORT EIO`);
      await dm.respondEvent(sid, ev.token, C.DM_RESP_ABORT, C.E.EIO);
    }
  } else if (ev.type === C.DM_EVENT_DESTROY) {
    const id = ev.attrCopy.toString();
    say(`event DESTROY handle ${ev.handle.toString('hex').slice(16, 32)}${id ? `: archive copy ${id} deleted` : ''}`);
    if (id && /^[0-9a-f]+$/.test(id)) fs.rmSync(path.join(archive, id), { force: true });
  } else {
    say(`event ${name}${ev.token ? ` token ${ev.token}` : ''}`);
    if (ev.token) await dm.respondEvent(sid, ev.token, C.DM_RESP_CONTINUE, 0);
  }
}

async function serve(): Promise<void> {
  const node = optional('node');
  const archive = opt('archive');
  const mnt = optional('mnt');
  const dm = await connect({ node });
  const sid = await session(dm);
  await dm.setDisp(sid, dm.globalHandle, C.DM_NO_TOKEN, [C.DM_EVENT_MOUNT]);
  say(`session ${sid} (${SESSION}) holds MOUNT for node ${node ?? 'of this host'}`);
  if (mnt) {
    await manage(dm, sid, await dm.pathToFshandle(mnt));
    say(`  and READ, WRITE, TRUNCATE, DESTROY for ${mnt}`);
  }
  say('waiting for events');
  // Events left outstanding by a previous run (it crashed while handling them): handle them again.
  for (const tok of await dm.getallTokens(sid)) await handle(dm, sid, archive, await dm.findEventmsg(sid, tok));
  // Stopped (SIGTERM, SIGINT): the iterator ends, then the session goes, so that no later mount
  // waits for a MOUNT answer nobody will give. (Killed instead, the session stays for the next run
  // to assume.) A restart of the node daemon is ridden out: `resume` waits for it and assumes the
  // session again; anything the client cannot recover from throws, and the HSM exits 1 saying why.
  const stop = new AbortController();
  process.on('SIGTERM', () => stop.abort());
  process.on('SIGINT', () => stop.abort());
  for await (const ev of dm.events(sid, { signal: stop.signal, resume: true })) await handle(dm, sid, archive, ev);
  await dm.setDisp(sid, dm.globalHandle, C.DM_NO_TOKEN, []).catch(() => undefined);
  // The aborted wait ends when the daemon sees its connection close: until then the session is busy.
  for (let i = 0; ; i++) {
    try {
      await dm.destroySession(sid);
      say(`session ${sid} destroyed`);
      break;
    } catch (e) {
      if (!(e instanceof DmapiError) || e.code !== 'EBUSY' || i === 20) { say(`session ${sid} kept: ${(e as Error).message}`); break; }
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  dm.close();
}

async function main(): Promise<void> {
  const cmd = process.argv[2];
  if (cmd === 'serve') return serve();
  if (cmd === 'migrate') {
    const dm = await connect({ node: optional('node') });
    const sid = await session(dm);
    const files = process.argv.slice(3).filter((a, i, all) => !a.startsWith('--') && !all[i - 1]?.startsWith('--'));
    for (const f of files) await migrate(dm, sid, opt('archive'), path.resolve(f));
    dm.close();
    return;
  }
  process.stderr.write('usage: hsm.js serve [--node NODE] --archive DIR [--mnt MOUNTPOINT] | migrate [--node NODE] --archive DIR FILE...\n');
  process.exit(2);
}

main().catch((e) => {
  process.stderr.write(`hsm: ${e instanceof DmapiError ? e.message : (e as Error).stack ?? e}\n`);
  process.exit(1);
});
