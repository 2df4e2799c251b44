// libdm's wire facts against the TypeScript protocol table they must match: the OP_* opcode numbers
// of native/libdm/libdm.c are exactly OPS of src/dmapi/protocol/codec.ts (same names, same numbers,
// none missing on either side), and the frame and data limits libdm enforces before a request is
// sent (MAX_FRAME, MAX_IO, the message / attribute / region limits) are the daemon's.
import test from 'ava';
import * as fs from 'fs';
import * as path from 'path';
import * as C from '../src/dmapi/constants';
import { MAX_FRAME, MAX_IO, OPS } from '../src/dmapi/protocol/codec';
import { REPO } from './helpers/cluster';

const src = fs.readFileSync(path.join(REPO, 'native', 'libdm', 'libdm.c'), 'utf8');

/** #define NAME value — value a C integer expression of literals, * and u suffixes. */
function defines(prefix: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const m of src.matchAll(new RegExp(`^#define (${prefix}\\w*) (.+)$`, 'gm'))) {
    const expr = m[2].trim().replace(/(\d+)u\b/g, '$1');
    if (!/^[\d\s*()]+$/.test(expr)) continue;
    out.set(m[1], Function(`return (${expr});`)() as number);
  }
  return out;
}

test('libdm opcodes are the TypeScript OPS table: same names, same numbers, both ways', (t) => {
  const c = defines('OP_');
  t.true(c.size > 50, `found ${c.size} OP_ defines`);
  const ts = new Map(Object.entries(OPS).map(([name, spec]) => [`OP_${name}`, spec.code]));
  t.deepEqual([...c.entries()].sort(), [...ts.entries()].sort());
});

test('libdm limits are the daemon\'s: frame, I/O chunk, message data, attribute size, managed regions', (t) => {
  const d = defines('');
  t.is(d.get('MAX_FRAME'), MAX_FRAME);
  t.is(d.get('MAX_IO'), MAX_IO);
  t.is(d.get('LIM_MESSAGE_DATA'), C.MAX_MESSAGE_DATA);
  t.is(d.get('LIM_ATTRIBUTE_SIZE'), C.MAX_ATTRIBUTE_SIZE);
  t.is(d.get('LIM_MANAGED_REGIONS'), C.MAX_MANAGED_REGIONS);
});
