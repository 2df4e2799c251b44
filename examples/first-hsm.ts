// Your first HSM (the README's tutorial): moves a file's data to an archive directory and brings it
// back the moment an application touches the file.
//
//   node dist/examples/first-hsm.js migrate ARCHIVE FILE   data → ARCHIVE/<inode>, the file stays, empty
//   node dist/examples/first-hsm.js serve ARCHIVE MOUNT    recalls on READ, WRITE and TRUNCATE
import * as fs from 'fs';
import * as path from 'path';
import {
  connect, DmapiError, DM_EVENT_READ, DM_EVENT_TRUNCATE, DM_EVENT_WRITE, DM_NO_SESSION, DM_NO_TOKEN, DM_REGION_READ,
  DM_REGION_TRUNCATE, DM_REGION_WRITE, DM_RESP_ABORT, DM_RESP_CONTINUE, DM_RIGHT_EXCL, DM_RR_WAIT, type DmapiClient,
  type DmDataEvent,
} from 'dmapifs/dmapi';

const [cmd, archive, target] = process.argv.slice(2);

async function main(): Promise<void> {
  const dm = await connect(); // this host's node daemon, as libdm finds it
  const sid = await session(dm);
  if (cmd === 'migrate') await migrate(dm, sid);
  else if (cmd === 'serve') await serve(dm, sid);
  else throw new Error('usage: first-hsm.js migrate ARCHIVE FILE | serve ARCHIVE MOUNT');
  dm.close();
}

// A session is the HSM's identity; it survives this process (a restarted HSM assumes it).
async function session(dm: DmapiClient): Promise<number> {
  for (const sid of await dm.getallSessions()) if ((await dm.querySession(sid)) === 'first-hsm') return dm.createSession(sid, 'first-hsm');
  return dm.createSession(DM_NO_SESSION, 'first-hsm');
}

async function migrate(dm: DmapiClient, sid: number): Promise<void> {
  const h = await dm.pathToHandle(target);
  const copy = path.join(archive, String(dm.handleToIno(h)));
  // Invisible I/O: neither raises events nor changes the file's times.
  fs.writeFileSync(copy, await dm.readInvis(sid, h, DM_NO_TOKEN, 0, fs.statSync(target).size));
  await dm.setDmattr(sid, h, DM_NO_TOKEN, 'archive', Buffer.from(copy));
  await dm.punchHole(sid, h, DM_NO_TOKEN, 0, 0); // the data goes; size and times stay
  // From now on any access to the file's bytes stops and raises an event to us.
  await dm.setRegion(sid, h, DM_NO_TOKEN, [{ offset: 0, size: 0, flags: DM_REGION_READ | DM_REGION_WRITE | DM_REGION_TRUNCATE }]);
  console.log(`${target}: migrated to ${copy}`);
}

async function serve(dm: DmapiClient, sid: number): Promise<void> {
  // Ask for the filesystem's data events: they come to this session.
  const fsh = await dm.pathToFshandle(target);
  await dm.setDisp(sid, fsh, DM_NO_TOKEN, [DM_EVENT_READ, DM_EVENT_WRITE, DM_EVENT_TRUNCATE]);
  const stop = new AbortController();
  process.once('SIGINT', () => stop.abort());
  console.log(`session ${sid} serving ${target}; Ctrl-C stops`);
  for await (const ev of dm.events(sid, { signal: stop.signal, resume: true })) {
    switch (ev.type) {
      case DM_EVENT_READ: case DM_EVENT_WRITE: case DM_EVENT_TRUNCATE:
        await recall(dm, sid, ev); // ev is a DmDataEvent here: handle, offset, length
        break;
      default:
        if (ev.token) await dm.respondEvent(sid, ev.token, DM_RESP_CONTINUE, 0);
    }
  }
  await dm.setDisp(sid, fsh, DM_NO_TOKEN, []);
}

async function recall(dm: DmapiClient, sid: number, ev: DmDataEvent): Promise<void> {
  try {
    // The event's token carries no rights (GPFS): take the file exclusively while writing it back.
    await dm.requestRight(sid, ev.handle, ev.token, DM_RR_WAIT, DM_RIGHT_EXCL);
    const copy = (await dm.getDmattr(sid, ev.handle, ev.token, 'archive')).toString();
    await dm.writeInvis(sid, ev.handle, ev.token, 0, fs.readFileSync(copy));
    await dm.setRegion(sid, ev.handle, ev.token, []); // resident again: no more events
    await dm.respondEvent(sid, ev.token, DM_RESP_CONTINUE, 0); // the application goes on
    console.log(`recalled ${copy} (${ev.length} bytes asked at ${ev.offset})`);
  } catch (e) {
    console.error(`recall failed: ${e instanceof DmapiError ? `${e.code}: ${e.reason}` : e}`);
    await dm.respondEvent(sid, ev.token, DM_RESP_ABORT, 5 /* EIO: the application's read fails */);
  }
}

main().catch((e) => {
  console.error(`first-hsm: ${e instanceof DmapiError ? e.message : (e as Error).stack ?? e}`);
  process.exit(1);
});
