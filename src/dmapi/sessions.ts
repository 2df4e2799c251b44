// dm_init_service, dm_create_session (assume with oldsid), dm_destroy_session, dm_query_session,
// dm_getall_sessions.
import { DM_NO_SESSION, DM_SESSION_INFO_LEN, DM_VERSION_STRING, E, fail } from './constants';
import { Args, Dmapi, FAILED_SESSION_KEEP_MS, Handlers } from './core';

/** The info as stored: up to the first NUL (C strings), at most 255 bytes + NUL. */
function infoOf(raw: Buffer): Buffer {
  const z = raw.indexOf(0);
  const s = z < 0 ? raw : raw.subarray(0, z);
  if (s.length + 1 > DM_SESSION_INFO_LEN) fail(E.E2BIG, `session info longer than ${DM_SESSION_INFO_LEN - 1} bytes`);
  return Buffer.from(s);
}

export function sessionHandlers(dm: Dmapi): Handlers {
  return {
    INIT_SERVICE: () => ({ version: Buffer.from(DM_VERSION_STRING) }),

    CREATE_SESSION: (a: Args) => {
      const info = infoOf(a.info as Buffer);
      const oldsid = Number(a.oldsid);
      if (oldsid !== DM_NO_SESSION) {
        // Assume an existing session: GPFS returns the same id and keeps its queues.
        const s = dm.sessions.get(oldsid);
        if (!s) fail(E.EINVAL, `no session ${oldsid} to assume`);
        if (s.failedAt !== null && Date.now() - s.failedAt > FAILED_SESSION_KEEP_MS) {
          fail(E.EINVAL, `session ${oldsid} failed more than 24 hours ago`);
        }
        s.failedAt = null;
        s.info = info;
        dm.log({ t: 's', sid: s.sid, info: info.toString('base64') });
        dm.observe?.({ what: 'session-assumed', session: s });
        return { sid: s.sid };
      }
      return { sid: dm.newSession(info).sid };
    },

    DESTROY_SESSION: (a: Args) => {
      const s = dm.session(a.sid);
      if (s.queue.length || s.outstanding.size) fail(E.EBUSY, `session ${s.sid} has undelivered or outstanding events`);
      for (const ev of dm.tokens.values()) if (ev.sid === s.sid) fail(E.EBUSY, `session ${s.sid} has outstanding tokens`);
      if (s.waiters.size) fail(E.EBUSY, `a dm_get_events call waits on session ${s.sid}`);
      dm.sessions.delete(s.sid);
      dm.log({ t: 'S', sid: s.sid });
      dm.observe?.({ what: 'session-destroyed', session: s });
      return {};
    },

    QUERY_SESSION: (a: Args) => {
      const s = dm.session(a.sid);
      const rlen = s.info.length + 1;
      if (BigInt(rlen) > (a.buflen as bigint)) fail(E.E2BIG, 'buffer too small', { rlen });
      return { rlen, info: Buffer.concat([s.info, Buffer.from([0])]) };
    },

    GETALL_SESSIONS: (a: Args) => {
      const sids = [...dm.sessions.keys()].sort((x, y) => x - y);
      if (sids.length > Number(a.nelem)) fail(E.E2BIG, 'buffer too small', { nelem: sids.length });
      const b = Buffer.alloc(4 * sids.length);
      sids.forEach((s, i) => b.writeInt32LE(s, 4 * i));
      return { nelem: sids.length, sids: b };
    },
  };
}
