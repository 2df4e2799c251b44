// A DMAPI-enabled mount for tests that drive DMAPI from outside TypeScript (the C API): teardown
// answers and empties every session left on the node, clears its event lists and dispositions,
// destroys it, then unmounts (lazily if still busy).
import * as fs from 'fs';
import type { ExecutionContext } from 'ava';
import { connect } from '../../src/dmapi/client';
import * as C from '../../src/dmapi/constants';
import { Cluster } from './cluster';

export async function dmapiMount(t: ExecutionContext, cluster: Cluster, node: string): Promise<{ mnt: string; backing: string }> {
  const backing = cluster.tmpDir(t, 'dmfs-back-');
  const mnt = cluster.tmpDir(t, 'dmfs-mnt-');
  const r = await cluster.cli(['mount', '--node', node, '--dmapi', '--mount-event-optional', backing, mnt]);
  if (r.code !== 0) throw new Error(`mount failed: ${r.stderr}`);
  t.teardown(async () => {
    const dm = await connect({ node, runDir: cluster.runDir }).catch(() => null);
    if (dm) {
      for (const sid of await dm.getallSessions().catch(() => [] as number[])) {
        for (const tok of await dm.getallTokens(sid).catch(() => [] as number[])) await dm.respondEvent(sid, tok, C.DM_RESP_CONTINUE, 0).catch(() => undefined);
        await dm.getEvents(sid, 0, 0).catch(() => undefined);
        const fsh = await dm.pathToFshandle(mnt).catch(() => Buffer.alloc(0));
        await dm.setEventlist(sid, fsh, C.DM_NO_TOKEN, []).catch(() => undefined);
        await dm.setDisp(sid, fsh, C.DM_NO_TOKEN, []).catch(() => undefined);
        await dm.destroySession(sid).catch(() => undefined);
      }
      dm.close();
    }
    await cluster.cli(['umount', '--node', node, mnt]);
    if (fs.readFileSync('/proc/self/mountinfo', 'utf8').includes(` ${mnt} `)) await cluster.cli(['umount', '--node', node, '--lazy', mnt]);
  });
  return { mnt, backing };
}
