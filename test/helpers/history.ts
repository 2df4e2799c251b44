// A Jepsen-style lock checker: from the invoke / ok / fail / reset history of every client (one
// clock: all clients run on this machine), each granted lock is held from its "ok" to the "invoke"
// of its unlock, or to the client's reset (its locks are gone then, and it acts on none of them),
// or to the end of the history. Two holds of one resource in incompatible modes (EX with anything,
// PR with PR is fine) that overlap in time are a violation of mutual exclusion.
export interface HistoryEvent {
  client: string;
  at: number;
  op: 'lock' | 'unlock' | 'reset';
  phase?: 'invoke' | 'ok' | 'fail';
  res?: string;
  mode?: number;
}

export interface Hold { client: string; res: string; mode: number; from: number; to: number }

const PR = 4;

export function holds(events: HistoryEvent[], endOfHistory: number): Hold[] {
  const out: Hold[] = [];
  const open = new Map<string, Hold>();
  for (const e of [...events].sort((a, b) => a.at - b.at)) {
    const cur = open.get(e.client);
    if (e.op === 'lock' && e.phase === 'ok') {
      open.set(e.client, { client: e.client, res: e.res!, mode: e.mode!, from: e.at, to: endOfHistory });
    } else if ((e.op === 'unlock' && e.phase === 'invoke') || e.op === 'reset') {
      if (cur) {
        cur.to = e.at;
        out.push(cur);
        open.delete(e.client);
      }
    }
  }
  out.push(...open.values());
  return out;
}

/** The pairs of overlapping incompatible holds. */
export function violations(hs: Hold[]): [Hold, Hold][] {
  const bad: [Hold, Hold][] = [];
  const byRes = new Map<string, Hold[]>();
  for (const h of hs) {
    let l = byRes.get(h.res);
    if (!l) byRes.set(h.res, (l = []));
    l.push(h);
  }
  for (const l of byRes.values()) {
    l.sort((a, b) => a.from - b.from);
    for (let i = 0; i < l.length; i++) {
      for (let j = i + 1; j < l.length && l[j].from < l[i].to; j++) {
        if (l[i].client === l[j].client) continue;
        if (l[i].mode === PR && l[j].mode === PR) continue;
        bad.push([l[i], l[j]]);
      }
    }
  }
  return bad;
}
