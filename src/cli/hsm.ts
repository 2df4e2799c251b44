// dmapifs hsm ...: the reference HSM (src/hsm/) as a command. `hsm start` is the daemon side (it
// answers the events of the filesystems it manages: recall on access); the other commands act on
// files directly, each with a short-lived DMAPI session of its own, like lfs hsm_archive,
// hsm_release, hsm_restore, hsm_state and hsm_cancel, and dsmls.
import * as fs from 'fs';
import * as path from 'path';
import { connect, DmapiClient } from '../dmapi/client';
import * as C from '../dmapi/constants';
import { Cancelled, FileStatus, globRegExp, Hsm, HSM_ATTR, HSM_SESSION, hsmSession, HsmError } from '../hsm/hsm';
import { fmtBytes, Progress } from '../hsm/progress';
import { DirectoryStore } from '../hsm/store';
import { CodedError } from '../common/errors';
import { NODE_OPT, nodeOf } from './common';
import { nodeServing } from './dm';
import { out, outJson } from './output';
import { Command, Group, Invocation, Opt, parseSize, str, UsageError } from './spec';

const ARCHIVE_OPT: Opt = { name: 'archive', value: 'DIR', required: true, help: 'the archive store: a directory' };
const BW_OPT: Opt = { name: 'bandwidth', value: 'SIZE', help: 'limit the store\'s reads and writes to SIZE per second (10M...)' };

function archiveDir(inv: Invocation): string {
  const d = path.resolve(str(inv, 'archive')!);
  let st: fs.Stats;
  try { st = fs.statSync(d); } catch { throw new CodedError('ENOENT', `archive directory ${d} does not exist`); }
  if (!st.isDirectory()) throw new CodedError('ENOTDIR', `${d} is not a directory`);
  return d;
}

function bandwidth(inv: Invocation): number {
  const v = str(inv, 'bandwidth');
  return v === undefined ? 0 : parseSize('bandwidth', v);
}

/** Jobs of the commands running against one archive, for `hsm cancel`: <archive>/.jobs/<pid>.json */
function jobsDir(archive: string): string {
  const d = path.join(archive, '.jobs');
  fs.mkdirSync(d, { recursive: true, mode: 0o700 });
  return d;
}

interface Job { pid: number; op: string; files: string[]; started: number }

function registerJob(archive: string, op: string, files: string[]): () => void {
  const f = path.join(jobsDir(archive), `${process.pid}.json`);
  fs.writeFileSync(f, JSON.stringify({ pid: process.pid, op, files, started: Date.now() } satisfies Job));
  return () => fs.rmSync(f, { force: true });
}

function listJobs(archive: string): Job[] {
  const out: Job[] = [];
  for (const n of fs.readdirSync(jobsDir(archive))) {
    const f = path.join(jobsDir(archive), n);
    try {
      const j = JSON.parse(fs.readFileSync(f, 'utf8')) as Job;
      try { process.kill(j.pid, 0); out.push(j); } catch { fs.rmSync(f, { force: true }); }
    } catch { /* being written */ }
  }
  return out;
}

/** A client and session for one command; everything is released at the end. */
async function withHsm<T>(inv: Invocation, files: string[], fn: (hsm: Hsm, node: string) => Promise<T>, opts: { archive?: string; op?: string } = {}): Promise<T> {
  const node = files.length ? await nodeServing(inv, files[0]) : nodeOf(inv);
  let dm: DmapiClient;
  try { dm = await connect({ node }); } catch (e) { throw new CodedError('ENOTREADY', `node ${node}: DMAPI not reachable (${(e as Error).message})`); }
  let cancelled = false;
  const onSig = () => { cancelled = true; };
  process.on('SIGTERM', onSig);
  process.on('SIGINT', onSig);
  const unregister = opts.archive && opts.op ? registerJob(opts.archive, opts.op, files) : () => undefined;
  const sid = await dm.createSession(C.DM_NO_SESSION, `dmapifs hsm ${opts.op ?? 'state'} (pid ${process.pid})`);
  try {
    const store = opts.archive ? new DirectoryStore(opts.archive) : null;
    const hsm = new Hsm(dm, sid, store as DirectoryStore, {
      bandwidth: bandwidth(inv),
      cancelled: () => cancelled,
      progress: (label, total) => (inv.json ? null : new Progress(label, total)),
    });
    return await fn(hsm, node);
  } finally {
    unregister();
    process.removeListener('SIGTERM', onSig);
    process.removeListener('SIGINT', onSig);
    await dm.destroySession(sid).catch(() => undefined);
    dm.close();
  }
}

function errText(e: unknown): { code: string; message: string } {
  if (e instanceof HsmError) return { code: e.code, message: e.message };
  const errno = (e as { errno?: number }).errno;
  if (typeof errno === 'number') return { code: C.errnoName(errno), message: `${(e as Error).message}` };
  return { code: (e as { code?: string }).code ?? 'EIO', message: (e as Error).message };
}

/** Runs op on each file; reports per file; exit 1 if any failed, 130 when cancelled. */
async function eachFile(inv: Invocation, files: string[], what: string, op: (f: string) => Promise<FileStatus>): Promise<number> {
  const results: Array<FileStatus | { path: string; error: { code: string; message: string } }> = [];
  let failed = 0;
  let cancelled = false;
  for (const f of files) {
    if (cancelled) { results.push({ path: f, error: { code: 'ECANCELED', message: 'not started: cancelled' } }); continue; }
    try {
      const r = await op(f);
      results.push(r);
      if (!inv.json) out(`${what} ${f}: ${r.state}${r.key ? ` (key ${r.key}, ${fmtBytes(r.size)})` : ''}`);
    } catch (e) {
      failed++;
      if (e instanceof Cancelled) cancelled = true;
      const err = errText(e);
      results.push({ path: f, error: err });
      if (!inv.json) process.stderr.write(`dmapifs: ${what} ${f}: ${err.message}\n`);
    }
  }
  if (inv.json) outJson({ results });
  return cancelled ? 130 : failed ? 1 : 0;
}

const files = (inv: Invocation) => inv.args.map((a) => path.resolve(a));

const START: Command = {
  name: 'hsm start',
  summary: 'run the HSM daemon side: recall migrated files when they are accessed',
  help: `Creates the session "${HSM_SESSION}" (or assumes it when an earlier run died, answering again
the events it left outstanding: a recall cut short is redone), takes the node's MOUNT disposition
and, on each filesystem it manages (--mnt, and every DMAPI filesystem mounted later), READ, WRITE,
TRUNCATE and DESTROY. Runs in the foreground, logging to stderr (JSON lines with --json). SIGTERM
or SIGINT: finishes the recalls under way, releases the dispositions and destroys the session.`,
  options: [ARCHIVE_OPT, NODE_OPT, { name: 'mnt', value: 'MOUNTPOINT', repeat: true, help: 'manage this mounted filesystem at once' }, BW_OPT],
  json: true,
  async run(inv) {
    const archive = archiveDir(inv);
    const node = nodeOf(inv);
    const log = (msg: string): void => {
      process.stderr.write(inv.json ? `${JSON.stringify({ time: new Date().toISOString(), msg })}\n` : `${new Date().toISOString()} hsm: ${msg}\n`);
    };
    const store = new DirectoryStore(archive);
    const left = await store.cleanup();
    if (left.length) log(`removed ${left.length} archive copies an earlier run did not finish`);
    const dm = await connect({ node });
    const { sid, assumed } = await hsmSession(dm, HSM_SESSION);
    const hsm = new Hsm(dm, sid, store, { bandwidth: bandwidth(inv), log, progress: () => null });
    await dm.setDisp(sid, dm.globalHandle, C.DM_NO_TOKEN, [C.DM_EVENT_MOUNT]);
    for (const m of (inv.opts.mnt as string[] | undefined) ?? []) await hsm.manage(await dm.pathToFshandle(path.resolve(m)));
    log(`session ${sid} ${assumed ? 'assumed' : 'created'} on node ${node}; archive ${store.where}; holding MOUNT${inv.opts.mnt ? ` and managing ${(inv.opts.mnt as string[]).join(', ')}` : ''}`);
    const inflight = new Set<Promise<void>>();
    const run = (p: Promise<void>) => { inflight.add(p); void p.finally(() => inflight.delete(p)); };
    const handle = (ev: import('../dmapi/client').DmEventMsg) => hsm.handle(ev).catch((e) => log(`event token ${ev.token}: ${(e as Error).message}`));
    // Restart safety: what an earlier run received and did not answer is done again.
    const again = await dm.getallTokens(sid);
    if (again.length) log(`redoing ${again.length} event(s) left outstanding by an earlier run`);
    for (const tok of again) run(dm.findEventmsg(sid, tok).then(handle, (e) => log(`token ${tok}: ${(e as Error).message}`)));
    let stopping = false;
    const stopped = new Promise<void>((resolve) => {
      const stop = (sig: string) => {
        if (stopping) return;
        stopping = true;
        log(`${sig}: stopping`);
        dm.close();
        resolve();
      };
      process.once('SIGTERM', () => stop('SIGTERM'));
      process.once('SIGINT', () => stop('SIGINT'));
    });
    const loop = (async () => {
      for await (const ev of dm.events(sid)) run(handle(ev));
    })().catch((e) => { if (!stopping) throw e; });
    await Promise.race([loop, stopped]);
    if (!stopping) throw new CodedError('ECONNRESET', `the DMAPI connection to node ${node} ended`);
    // The connection is closed: the events in flight cannot be answered through it; another
    // connection finishes the job and ends the session.
    const dm2 = await connect({ node });
    await Promise.allSettled([...inflight]);
    await dm2.setDisp(sid, dm2.globalHandle, C.DM_NO_TOKEN, []).catch(() => undefined);
    const rest = await dm2.getallTokens(sid).catch(() => [] as number[]);
    if (rest.length) {
      log(`session ${sid} kept: ${rest.length} event(s) still outstanding (the next run assumes it)`);
    } else {
      await dm2.destroySession(sid).then(() => log(`session ${sid} destroyed`), (e) => log(`session ${sid} kept: ${(e as Error).message}`));
    }
    dm2.close();
    return 0;
  },
};

const STATE: Command = {
  name: 'hsm state',
  args: 'FILE...',
  nargs: [1, Infinity],
  summary: 'HSM state of files: resident, premigrated or migrated, archive key and checksum (like lfs hsm_state, dsmls)',
  options: [NODE_OPT],
  json: true,
  async run(inv) {
    const fl = files(inv);
    return withHsm(inv, fl, async (hsm) => {
      const rows: Array<FileStatus | { path: string; error: { code: string; message: string } }> = [];
      let failed = 0;
      for (const f of fl) {
        try { rows.push(await hsm.status(f)); } catch (e) { failed++; rows.push({ path: f, error: errText(e) }); }
      }
      if (inv.json) outJson({ files: rows });
      else {
        for (const r of rows) {
          if ('error' in r) process.stderr.write(`dmapifs: ${r.path}: ${r.error.message}\n`);
          else out(`${r.state.padEnd(12)} ${fmtBytes(r.size).padStart(10)}  ${r.key ?? '-'.padEnd(24)}  ${r.path}`);
        }
      }
      return failed ? 1 : 0;
    });
  },
};

/** A command applying one operation to each FILE, with a session and a job entry of its own. */
function perFile(name: string, summary: string, what: string, extra: Opt[], op: (hsm: Hsm, f: string, inv: Invocation) => Promise<FileStatus>): Command {
  return {
    name,
    args: 'FILE...',
    nargs: [1, Infinity],
    summary,
    options: [ARCHIVE_OPT, NODE_OPT, ...extra, BW_OPT],
    json: true,
    async run(inv) {
      const archive = archiveDir(inv);
      const fl = files(inv);
      const verb = inv.opts.release ? 'migrated' : what;
      return withHsm(inv, fl, (hsm) => eachFile(inv, fl, verb, (f) => op(hsm, f, inv)), { archive, op: name.split(' ')[1] });
    },
  };
}

const ARCHIVE = perFile('hsm archive', 'premigrate files: copy their data to the archive (checksummed), keep it in the files', 'archived',
  [{ name: 'release', help: 'release each file once archived (migrate)' }],
  async (hsm, f, inv) => (inv.opts.release ? hsm.release(f) : hsm.archive(f)));

const RELEASE = perFile('hsm release', 'punch out the data of archived files (the archive copy is verified first)', 'released', [],
  async (hsm, f) => {
    if ((await hsm.status(f)).state === 'resident') throw new HsmError('EINVAL', 'not archived (hsm archive it first, or hsm archive --release)');
    return hsm.release(f);
  });

const RESTORE = perFile('hsm restore', 'recall migrated files without waiting for an access (checksum verified)', 'restored', [],
  async (hsm, f) => {
    await hsm.recall(await hsm.dm.pathToHandle(f), f);
    return hsm.status(f);
  });

const CANCEL: Command = {
  name: 'hsm cancel',
  args: '[FILE...]',
  nargs: [0, Infinity],
  summary: 'cancel running archive, release, restore or policy commands (of FILEs, or --all)',
  help: `The command stops at its next chunk and undoes the file it was working on: an archive copy
not committed is removed, a recall cut short is punched out again (the file stays migrated).`,
  options: [ARCHIVE_OPT, { name: 'all', help: 'cancel every job on this archive' }],
  json: true,
  async run(inv) {
    const archive = archiveDir(inv);
    if (!inv.args.length && !inv.opts.all) throw new UsageError('hsm cancel needs FILE... or --all');
    const want = new Set(files(inv));
    const jobs = listJobs(archive).filter((j) => inv.opts.all || j.files.some((f) => want.has(f)));
    for (const j of jobs) { try { process.kill(j.pid, 'SIGTERM'); } catch { /* gone */ } }
    // Wait for them to have undone their work.
    const deadline = Date.now() + 30000;
    for (const j of jobs) {
      while (Date.now() < deadline) {
        try { process.kill(j.pid, 0); } catch { break; }
        await new Promise((r) => setTimeout(r, 50));
      }
    }
    if (inv.json) outJson({ cancelled: jobs });
    else out(jobs.length ? jobs.map((j) => `cancelled ${j.op} (pid ${j.pid}) of ${j.files.join(' ')}`).join('\n') : 'no such job running');
    return jobs.length ? 0 : 1;
  },
};

/** "30s", "15m", "2h", "7d" → ms */
function parseAge(v: string): number {
  const m = /^(\d+)(s|m|h|d)?$/.exec(v);
  if (!m) throw new UsageError(`--older-than takes a duration such as 30s, 15m, 2h or 7d, not '${v}'`);
  return Number(m[1]) * { s: 1000, m: 60000, h: 3600000, d: 86400000 }[(m[2] ?? 's') as 's']!;
}

const POLICY: Command = {
  name: 'hsm policy',
  args: 'MOUNTPOINT',
  nargs: [1, 1],
  summary: 'choose files by a bulkattr scan (age, size, name) and archive (or migrate) them',
  help: `Scans the filesystem with dm_get_bulkall (size, mtime and the HSM attribute of every file),
keeps the resident regular files that match every criterion given, names them with a
dm_get_dirattrs walk and archives them (--release: migrates them). --dry-run only lists them.`,
  options: [
    ARCHIVE_OPT, NODE_OPT,
    { name: 'older-than', value: 'AGE', help: 'not modified for AGE (30s, 15m, 2h, 7d)' },
    { name: 'larger-than', value: 'SIZE', help: 'larger than SIZE (1M...)' },
    { name: 'match', value: 'GLOB', repeat: true, help: 'path (relative to the mount) or file name matches GLOB (*, ?, **)' },
    { name: 'release', help: 'release the files once archived' },
    { name: 'dry-run', help: 'list the files chosen, change nothing' },
    BW_OPT,
  ],
  json: true,
  async run(inv) {
    const archive = archiveDir(inv);
    const mnt = path.resolve(inv.args[0]);
    const older = str(inv, 'older-than') !== undefined ? parseAge(str(inv, 'older-than')!) : null;
    const larger = str(inv, 'larger-than') !== undefined ? parseSize('larger-than', str(inv, 'larger-than')!) : null;
    const globs = ((inv.opts.match as string[] | undefined) ?? []).map(globRegExp);
    return withHsm(inv, [mnt], async (hsm) => {
      const dm = hsm.dm;
      const fsh = await dm.pathToFshandle(mnt);
      // 1. bulkall: every object's stat and HSM attribute; keep resident regular files by age and size.
      const cand = new Map<bigint, { size: number }>();
      const now = BigInt(Date.now()) * 1000000n;
      for (let loc = await dm.initAttrloc(hsm.sid, fsh, C.DM_NO_TOKEN); ;) {
        const r = await dm.getBulkall(hsm.sid, fsh, C.DM_NO_TOKEN, C.DM_AT_STAT, HSM_ATTR, loc);
        for (const e of r.entries) {
          if ((e.mode & 0o170000) !== 0o100000 || (e.attr && e.attr.length)) continue;
          if (larger !== null && Number(e.size) <= larger) continue;
          // dt_mtime is in seconds (time_t).
          if (older !== null && (now / 1000000000n - e.mtime) * 1000n < BigInt(older)) continue;
          cand.set(e.ino, { size: Number(e.size) });
        }
        loc = r.loc;
        if (!r.more) break;
      }
      // 2. names: a dirattrs walk from the root.
      const chosen: string[] = [];
      const walk = async (dir: string, dh: Buffer) => {
        for (let loc = await dm.initAttrloc(hsm.sid, dh, C.DM_NO_TOKEN); ;) {
          const r = await dm.getDirattrs(hsm.sid, dh, C.DM_NO_TOKEN, C.DM_AT_STAT | C.DM_AT_HANDLE, loc);
          for (const e of r.entries) {
            if (!e.compname || e.compname === '.' || e.compname === '..') continue;
            const p = path.join(dir, e.compname);
            if ((e.mode & 0o170000) === 0o040000 && e.handle) await walk(p, e.handle);
            else if (cand.has(e.ino)) {
              const rel = path.relative(mnt, p);
              if (!globs.length || globs.some((g) => g.test(rel))) chosen.push(p);
            }
          }
          loc = r.loc;
          if (!r.more) break;
        }
      };
      await walk(mnt, await dm.pathToHandle(mnt));
      chosen.sort();
      if (inv.opts['dry-run']) {
        if (inv.json) outJson({ chosen });
        else out(chosen.length ? chosen.join('\n') : 'no file matches');
        return 0;
      }
      if (!chosen.length) { if (inv.json) outJson({ results: [] }); else out('no file matches'); return 0; }
      const unregister = registerJob(archive, 'policy', chosen);
      try {
        return await eachFile(inv, chosen, inv.opts.release ? 'migrated' : 'archived', (f) => (inv.opts.release ? hsm.release(f) : hsm.archive(f)));
      } finally {
        unregister();
      }
    }, { archive, op: 'policy' });
  },
};

export const HSM: Group = {
  kind: 'group',
  name: 'hsm',
  summary: 'the reference HSM: archive, release, recall files to and from a directory store',
  help: `A file is resident (its data only in the file), premigrated (archived: the archive holds a
verified copy, the data is still there) or migrated (released: the data is only in the archive;
an access waits while hsm start recalls it). The archive copy's SHA-256 is checked before data is
punched out and again when it is recalled: a copy that does not match is refused.`,
  subcommands: [START, STATE, ARCHIVE, RELEASE, RESTORE, CANCEL, POLICY],
};
