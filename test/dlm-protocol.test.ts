// The DLM client protocol as documented (docs/dlm-protocol.md) is the one the code speaks: every
// message table of the document equals the layouts of src/dlm/service/protocol.ts, the numbers the
// C library sends (native/libdlm/dlm_private.h) equal the TypeScript ones, <sys/dlm.h>'s statuses,
// modes, flags and limits equal src/dlm's, and libdlm's message texts equal dlm_sperrno's. Every
// layout round-trips through its encoder and decoder.
import test from 'ava';
import * as fs from 'fs';
import * as path from 'path';
import * as dlm from '../src/dlm';
import { Reader, Writer, writeValue } from '../src/dlm/service/codec';
import {
  ANSWERS, CV, LK, MESSAGES, MSG, OP, REQUESTS, decodeMessage, decodeReply, decodeReplyHead, decodeRequest,
  encodeMessage, encodeReply, encodeRequest, type Field, type FieldType, type Layout, type Op,
} from '../src/dlm/service/protocol';
import { REPO } from './helpers/cluster';

const doc = fs.readFileSync(path.join(REPO, 'docs', 'dlm-protocol.md'), 'utf8');

/** The message tables of one "## " section: heading "### NAME (number)" → rows. */
function section(title: string): Map<string, { number: string; rows: string[][] }> {
  const start = doc.indexOf(`\n## ${title}\n`);
  if (start < 0) throw new Error(`no section ${title}`);
  const end = doc.indexOf('\n## ', start + 4);
  const text = doc.slice(start, end < 0 ? undefined : end);
  const out = new Map<string, { number: string; rows: string[][] }>();
  for (const block of text.split('\n### ').slice(1)) {
    const m = /^(\w+) \(([^)]+)\)/.exec(block);
    if (!m) throw new Error(`bad heading: ${block.split('\n')[0]}`);
    const rows = block.split('\n').filter((l) => l.startsWith('| ') && !l.startsWith('| field')).map((l) => l.split('|').slice(1, -1).map((c) => c.trim()));
    out.set(m[1], { number: m[2], rows });
  }
  return out;
}

function bitName(set: Record<string, number>, setName: string, bit: number): string {
  const e = Object.entries(set).find(([, v]) => v === bit);
  return `bits & ${setName}.${e ? e[0] : `0x${bit.toString(16)}`}`;
}

function expectRows(l: Layout, set: Record<string, number>, setName: string): string[][] {
  return l.fields.map((f: Field) => [f.name, f.type, f.bit === undefined ? 'always' : bitName(set, setName, f.bit)]);
}

test('every request, answer and node message of docs/dlm-protocol.md is the layout the code uses', (t) => {
  const req = section('Requests');
  t.deepEqual([...req.keys()].sort(), Object.values(REQUESTS).map((l) => l.name).sort());
  for (const l of Object.values(REQUESTS)) {
    const d = req.get(l.name)!;
    t.is(d.number, String(l.type), `${l.name}: its number`);
    const cvt = l.name.endsWith('CVT');
    t.deepEqual(d.rows, expectRows(l, cvt ? CV : LK, cvt ? 'CV' : 'LK'), `request ${l.name}`);
  }
  const ans = section('Answers');
  t.deepEqual([...ans.keys()].sort(), Object.values(ANSWERS).map((l) => l.name).sort());
  for (const l of Object.values(ANSWERS)) t.deepEqual(ans.get(l.name)!.rows, expectRows(l, LK, 'LK'), `answer ${l.name}`);
  const msgs = section('Node messages');
  t.deepEqual([...msgs.keys()].sort(), Object.keys(MESSAGES).sort());
  for (const l of Object.values(MESSAGES)) {
    t.is(msgs.get(l.name)!.number, `0x${l.type.toString(16)}`);
    t.deepEqual(msgs.get(l.name)!.rows, expectRows(l, LK, 'LK'), `message ${l.name}`);
  }
});

test('the numbers tables of the document are OP, MSG, LK and CV', (t) => {
  const rows = (re: RegExp) => [...doc.matchAll(re)].map((m) => [m[1], m[2]]);
  t.deepEqual(rows(/^\| ([A-Z_]+) \| (\d+) \|$/gm), Object.entries(OP).map(([k, v]) => [k, String(v)]));
  t.deepEqual(rows(/^\| ([A-Z_]+) \| (0x[0-9a-f]+) \|$/gm), Object.entries(MSG).map(([k, v]) => [k, `0x${v.toString(16)}`]));
  const bits = rows(/^\| ((?:LK|CV)\.[A-Z_]+) \| (0x[0-9a-f]+) \|$/gm);
  t.deepEqual(bits, [
    ...Object.entries(LK).map(([k, v]) => [`LK.${k}`, `0x${v.toString(16).padStart(2, '0')}`]),
    ...Object.entries(CV).map(([k, v]) => [`CV.${k}`, `0x${v.toString(16).padStart(2, '0')}`]),
  ]);
  // every field type used is documented
  const types = new Set<FieldType>();
  for (const set of [REQUESTS, ANSWERS, MESSAGES]) for (const l of Object.values(set) as Layout[]) for (const f of l.fields) types.add(f.type);
  for (const ty of types) t.regex(doc, new RegExp(`^\\| ${ty.replace('?', '\\?')}[ ,|]`, 'm'), `field type ${ty} documented`);
});

/** `#define PREFIX_NAME value` lines of a C file. */
function defines(file: string, prefix: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const m of fs.readFileSync(file, 'utf8').matchAll(new RegExp(`^#define ${prefix}([A-Z0-9_]+) (0x[0-9a-fA-F]+|\\d+)`, 'gm'))) out.set(m[1], Number(m[2]));
  return out;
}

test("libdlm's request types, message types, bits and value tags are the TypeScript ones", (t) => {
  const h = path.join(REPO, 'native', 'libdlm', 'dlm_private.h');
  t.deepEqual(Object.fromEntries(defines(h, 'OP_')), { ...OP });
  t.deepEqual(Object.fromEntries(defines(h, 'MSG_')), { ...MSG });
  t.deepEqual(Object.fromEntries(defines(h, 'LK_')), { ...LK });
  t.deepEqual(Object.fromEntries(defines(h, 'CV_')), { ...CV });
  // value tags: what codec.ts writes for each kind of value
  const tag = (v: Parameters<typeof writeValue>[1]) => {
    const w = new Writer(64);
    writeValue(w, v);
    return w.take()[0];
  };
  const V = defines(h, 'V_');
  t.is(V.get('UNDEFINED'), tag(undefined));
  t.is(V.get('NULL'), tag(null));
  t.is(V.get('FALSE'), tag(false));
  t.is(V.get('TRUE'), tag(true));
  t.is(V.get('NUMBER'), tag(1));
  t.is(V.get('STRING'), tag('s'));
  t.is(V.get('BYTES'), tag(new Uint8Array(1)));
  t.is(V.get('BIGINT'), tag(1n));
});

test('<sys/dlm.h>: every status, mode, flag, lock state and limit has the value of src/dlm', (t) => {
  const hdr = fs.readFileSync(path.join(REPO, 'include', 'sys', 'dlm.h'), 'utf8');
  const names = new Map<string, number>();
  for (const m of hdr.matchAll(/^\s*(DLM_[A-Z0-9_]+) = (\d+),?/gm)) names.set(m[1], Number(m[2]));
  for (const m of hdr.matchAll(/^#define (DLM_[A-Z0-9_]+) (0x[0-9a-fA-F]+|\d+)/gm)) names.set(m[1], Number(m[2]));
  const ts = dlm as unknown as Record<string, unknown>;
  let n = 0;
  for (const [name, v] of names) {
    if (name === 'DLM_VALBLKSIZE') {
      t.is(v * 4, dlm.DLM_VALBLKSIZE, 'DLM_VALBLKSIZE counts longwords in C, bytes in TypeScript');
      continue;
    }
    t.is(v, ts[name] as number, name);
    n++;
  }
  // and nothing of the TypeScript API is missing from the header
  for (const [name, v] of Object.entries(ts)) {
    if (/^DLM_[A-Z0-9_]+$/.test(name) && typeof v === 'number' && name !== 'DLM_DEFAULT_SIGNAL') t.true(names.has(name), `${name} is in <sys/dlm.h>`);
  }
  t.true(n > 80);
});

test("libdlm's message texts are dlm_sperrno's", (t) => {
  const src = fs.readFileSync(path.join(REPO, 'native', 'libdlm', 'dlm_errno.c'), 'utf8');
  const ts = dlm as unknown as Record<string, number>;
  const rows = [...src.matchAll(/\{ (DLM_[A-Z_]+), "([^"]*)" \}/g)];
  t.true(rows.length >= 47);
  for (const [, name, text] of rows) t.is(text, dlm.sperrno(ts[name]), name);
  t.true(src.includes(`"${dlm.DLM_ILLEGAL_ERROR_TEXT}"`));
});

// ---- round trips ---------------------------------------------------------------------------------

const valb = () => Uint8Array.from({ length: 32 }, (_, i) => i + 1);
function sample(f: Field): unknown {
  switch (f.type) {
    case 'u8': return f.name === 'bits' ? 0xff : 7;
    case 'u16': return 513;
    case 'u32': return 0xfffffff0;
    case 'i32': return -5;
    case 'f64': return 2 ** 40;
    case 'lkid': return { hndl: 9, seqn: 2 ** 50 };
    case 'valb': case 'valb?': return valb();
    case 'value': return f.name === 'tranid' ? 12345678901234567890n : 'hint';
    case 'resnam': return 'résumé';
    case 'short': return Uint8Array.from([0, 255, 7]);
    case 'str': return 'text ✓';
    case 'u32list': return [1, 2, 0xffffffff];
    case 'resources': return [{ namespace: 'u:0', path: [Uint8Array.from([65]), Uint8Array.from([66, 67])], valb: valb(), vbseqnum: 3 }];
  }
}
/** Byte fields come back as Buffers (views copied out of the frame): compare their bytes. */
function plain(v: unknown): unknown {
  if (v instanceof Uint8Array) return [...v];
  if (Array.isArray(v)) return v.map(plain);
  if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, plain(x)]));
  return v;
}
const fill = (l: Layout) => Object.fromEntries(l.fields.map((f) => [f.name, sample(f)]));
const CV_ALL = Object.values(CV).reduce((a, b) => a | b, 0);

test('every layout round-trips through its encoder and decoder; a truncated or padded frame is refused', (t) => {
  const r = new Reader();
  for (const [op, l] of Object.entries(REQUESTS) as unknown as Array<[Op, Layout]>) {
    const m = fill(l);
    if (l.name.endsWith('CVT')) m.bits = CV_ALL;
    const w = new Writer(64);
    encodeRequest(w, Number(op) as Op, 42, m as never);
    const buf = w.take();
    r.reset(buf, 4, buf.length);
    t.is(r.u8(), Number(op));
    t.is(r.u32(), 42);
    const back = decodeRequest(r, Number(op) as Op) as Record<string, unknown>;
    if (l.name === 'LOCK' || l.name === 'QUELOCK' || l.name === 'RSBINFO') back.resnam = Buffer.from(back.resnam as Uint8Array).toString('utf8');
    t.deepEqual(plain(back), plain(m), `request ${l.name}`);
    if (l.fields.length) {
      r.reset(buf, 4, buf.length - 1);
      r.u8(); r.u32();
      t.throws(() => decodeRequest(r, Number(op) as Op), undefined, `truncated ${l.name}`);
    }
    const padded = Buffer.concat([buf, Buffer.from([0])]);
    r.reset(padded, 4, padded.length);
    r.u8(); r.u32();
    t.throws(() => decodeRequest(r, Number(op) as Op), undefined, `padded ${l.name}`);
  }
  for (const [op, l] of Object.entries(ANSWERS) as unknown as Array<[Op, Layout]>) {
    const m = fill(l);
    const w = new Writer(64);
    encodeReply(w, Number(op) as Op, 7, -3, m as never);
    encodeReply(w, Number(op) as Op, 8, 26, null);
    const buf = w.take();
    const len = buf.readUInt32LE(0);
    r.reset(buf, 4, 4 + len);
    t.is(r.u8(), MSG.REPLY);
    t.deepEqual(decodeReplyHead(r), { reqId: 7, status: -3 });
    t.deepEqual(plain(decodeReply(r, Number(op) as Op)), l.fields.length ? plain(m) : null, `answer ${l.name}`);
    r.reset(buf, 8 + len + 1, buf.length);
    t.deepEqual(decodeReplyHead(r), { reqId: 8, status: 26 });
    t.is(decodeReply(r, Number(op) as Op), null, `${l.name} without fields`);
  }
  for (const l of Object.values(MESSAGES)) {
    const m = fill(l);
    const w = new Writer(64);
    encodeMessage(w, l.name as keyof typeof MESSAGES, m as never);
    const buf = w.take();
    r.reset(buf, 4, buf.length);
    t.is(r.u8(), l.type);
    t.deepEqual(plain(decodeMessage(r, l.name as keyof typeof MESSAGES)), plain(m), `message ${l.name}`);
  }
});

test('a field that cannot be encoded drops the whole frame', (t) => {
  const w = new Writer(64);
  t.throws(() => encodeRequest(w, OP.LOCK, 1, { nsp: 1, mode: 6, flags: 0, timeout: 0, rid: 0, bits: 0, resnam: 'x'.repeat(256) }), { instanceOf: RangeError });
  t.is(w.length, 0);
});
