// A client for the history checks of dlm-etcd-history.test.ts: locks and unlocks resources of its
// node's lock space in a loop and prints every invoke / ok / fail with its time, and every reset
// (the end of whatever it held). Run as: node dlm-history-worker.js SOCKET NAME DURATION_MS SEED
import { DlmClient } from '../src/dlm/client';
import { DLM_EXMODE, DLM_PRMODE, DLM_SUCCESS } from '../src/dlm';

const [socketPath, name, durationArg, seedArg] = process.argv.slice(2);
let seed = Number(seedArg) >>> 0 || 1;
const rnd = () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32);
const log = (o: object) => process.stdout.write(JSON.stringify({ client: name, at: Date.now(), ...o }) + '\n');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function main(): Promise<void> {
  const end = Date.now() + Number(durationArg);
  const c = await DlmClient.connect({ socketPath });
  let epoch = 0;
  c.on('reset', (reason: string) => { epoch++; log({ op: 'reset', reason }); });
  let nsp = 0;
  while (Date.now() < end) {
    if (nsp === 0 || epoch !== 0) {
      epoch = 0;
      const j = await c.nsjoin(0, 0x1000);
      if (j.status !== DLM_SUCCESS) { await sleep(100); nsp = 0; continue; }
      nsp = j.nsp!;
    }
    const res = `H${Math.floor(rnd() * 3)}`;
    const mode = rnd() < 0.3 ? DLM_PRMODE : DLM_EXMODE;
    const mine = epoch;
    log({ op: 'lock', phase: 'invoke', res, mode });
    const r = await c.lock(nsp, res, mode);
    const st = r.wait ? await r.wait : r.status;
    if (st !== DLM_SUCCESS || epoch !== mine) { log({ op: 'lock', phase: 'fail', res, mode, status: st }); continue; }
    log({ op: 'lock', phase: 'ok', res, mode, lkid: `${r.lkid!.hndl}:${r.lkid!.seqn}` });
    await sleep(rnd() * 20);
    log({ op: 'unlock', phase: 'invoke', res, mode });
    const u = await c.unlock(r.lkid!);
    log({ op: 'unlock', phase: u === DLM_SUCCESS ? 'ok' : 'fail', res, status: u });
  }
  c.close();
}
main().then(() => process.exit(0), (e) => { console.error(e); process.exit(1); });
