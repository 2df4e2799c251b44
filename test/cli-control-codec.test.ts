// The control protocol's codec, and a control server/client pair over a real Unix socket (no
// daemon, no FUSE): framing, limits, malformed input.
import test from 'ava';
import * as fs from 'fs';
import * as net from 'net';
import * as path from 'path';
import { ControlClient, callDaemon } from '../src/daemon/control-client';
import { encode, LineDecoder, MAX_LINE, parseAnswer, parseRequest } from '../src/daemon/control-codec';
import { ControlServer } from '../src/daemon/control-server';
import { CodedError } from '../src/common/errors';
import { checkNodeName, nodePaths } from '../src/common/paths';
import { parseMountinfo } from '../src/fs/mountinfo';

function decodeAll(chunks: Buffer[], max = MAX_LINE): { lines: string[]; oversize: number } {
  const lines: string[] = [];
  let oversize = 0;
  const d = new LineDecoder((l) => lines.push(l), () => oversize++, max);
  for (const c of chunks) d.push(c);
  return { lines, oversize };
}

test('LineDecoder splits lines across arbitrary chunk boundaries', (t) => {
  const text = '{"a":1}\n{"b":"é€"}\r\n\n{"c":3}\n';
  const bytes = Buffer.from(text);
  for (let cut = 0; cut <= bytes.length; cut++) {
    const r = decodeAll([bytes.subarray(0, cut), bytes.subarray(cut)]);
    t.deepEqual(r.lines, ['{"a":1}', '{"b":"é€"}', '{"c":3}'], `cut at ${cut}`);
  }
  // One byte at a time, multi-byte UTF-8 split inside a character.
  const r = decodeAll([...bytes].map((b) => Buffer.from([b])));
  t.deepEqual(r.lines, ['{"a":1}', '{"b":"é€"}', '{"c":3}']);
});

test('LineDecoder drops an over-long line whole and goes on with the next', (t) => {
  const long = 'x'.repeat(100);
  const r = decodeAll([Buffer.from(`ok1\n${long.slice(0, 40)}`), Buffer.from(long.slice(40)), Buffer.from('\nok2\n')], 64);
  t.deepEqual(r.lines, ['ok1', 'ok2']);
  t.is(r.oversize, 1);
  // Exactly at the limit is fine.
  const r2 = decodeAll([Buffer.from('y'.repeat(64) + '\n')], 64);
  t.deepEqual(r2.lines, ['y'.repeat(64)]);
  t.is(r2.oversize, 0);
});

test('parseRequest accepts requests and answers bad ones with coded errors', (t) => {
  t.deepEqual(parseRequest('{"id":1,"cmd":"ping"}'), { request: { id: 1, cmd: 'ping', args: {} } });
  t.deepEqual(parseRequest('{"id":"a","cmd":"mount","args":{"x":1}}'), { request: { id: 'a', cmd: 'mount', args: { x: 1 } } });
  const bad: Array<[string, string, string | number | null]> = [
    ['not json', 'EPROTO', null],
    ['[1,2]', 'EPROTO', null],
    ['"str"', 'EPROTO', null],
    ['{"cmd":"ping"}', 'EINVAL', null],
    ['{"id":{},"cmd":"ping"}', 'EINVAL', null],
    ['{"id":7}', 'EINVAL', 7],
    ['{"id":7,"cmd":""}', 'EINVAL', 7],
    ['{"id":7,"cmd":"ping","args":[1]}', 'EINVAL', 7],
    ['{"id":7,"cmd":"ping","args":"x"}', 'EINVAL', 7],
  ];
  for (const [line, code, id] of bad) {
    const r = parseRequest(line);
    t.true('error' in r, line);
    if ('error' in r) {
      t.is(r.error.ok, false);
      t.is(r.error.id, id, line);
      if (!r.error.ok) {
        t.is(r.error.error.code, code, line);
        t.notRegex(r.error.error.message, /\n/);
      }
    }
  }
});

test('encode/parseAnswer round trip; an answer over the line limit becomes an error answer', (t) => {
  const a = parseAnswer(encode({ id: 3, ok: true, result: { x: [1, 2] } }).trim());
  t.deepEqual(a, { id: 3, ok: true, result: { x: [1, 2] } });
  const e = parseAnswer(encode({ id: 4, ok: false, error: { code: 'ENOENT', message: 'gone' } }).trim());
  t.deepEqual(e, { id: 4, ok: false, error: { code: 'ENOENT', message: 'gone' } });
  const big = encode({ id: 5, ok: true, result: 'z'.repeat(MAX_LINE) });
  t.true(big.length < 1000);
  t.like(parseAnswer(big.trim()), { id: 5, ok: false, error: { code: 'EMSGSIZE' } });
  t.throws(() => encode({ id: 6, cmd: 'x', args: { s: 'z'.repeat(MAX_LINE) } }), { instanceOf: RangeError });
  t.is(parseAnswer('{"id":1}'), null);
  t.is(parseAnswer('nope'), null);
});

test('node names and socket path limits', (t) => {
  t.is(checkNodeName('vm-1.example_a'), 'vm-1.example_a');
  for (const bad of ['', '.', '..', '-x', 'a/b', 'a b', 'x'.repeat(64), 'é']) {
    t.throws(() => checkNodeName(bad), { instanceOf: CodedError }, bad);
  }
  t.throws(() => nodePaths('n', '/tmp/' + 'd'.repeat(100)), { message: /too long/ });
  t.is(nodePaths('n', '/run/x').socket, '/run/x/n/control.sock');
});

test('parseMountinfo decodes octal escapes and the optional fields', (t) => {
  const text = [
    '36 35 98:0 /mnt1 /mnt/parent rw,noatime master:1 - ext3 /dev/root rw,errors=continue',
    '40 36 0:50 / /tmp/a\\040b rw,nosuid shared:5 master:2 - fuse.dmapifs dmapifs:n1 rw,user_id=0',
    '',
  ].join('\n');
  const m = parseMountinfo(text);
  t.is(m.length, 2);
  t.like(m[0], { id: 36, parentId: 35, devno: '98:0', root: '/mnt1', mountpoint: '/mnt/parent', fstype: 'ext3', source: '/dev/root' });
  t.like(m[1], { mountpoint: '/tmp/a b', fstype: 'fuse.dmapifs', source: 'dmapifs:n1' });
});

async function withServer(t: import('ava').ExecutionContext, dispatch: ConstructorParameters<typeof ControlServer>[1]): Promise<string> {
  const dir = fs.mkdtempSync('/tmp/dmfs-codec-');
  const sock = path.join(dir, 'control.sock');
  const warnings: string[] = [];
  const server = new ControlServer(sock, dispatch, { info: () => undefined, warn: (m) => warnings.push(m) });
  await server.listen();
  t.teardown(async () => {
    await server.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });
  return sock;
}

/** Sends raw bytes on a fresh connection and collects `n` answer lines. */
function raw(sock: string, data: Buffer | string, n: number): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const c = net.createConnection(sock);
    const lines: string[] = [];
    const d = new LineDecoder((l) => {
      lines.push(l);
      if (lines.length === n) { c.destroy(); resolve(lines); }
    }, () => reject(new Error('oversize answer')));
    c.on('data', (b: Buffer) => d.push(b));
    c.on('error', reject);
    c.on('connect', () => c.write(data));
    setTimeout(() => { c.destroy(); reject(new Error(`got ${lines.length}/${n} answers: ${lines.join(' | ')}`)); }, 5000).unref();
  });
}

test('control server: the socket is 0600; bad input gets error answers and the server keeps serving', async (t) => {
  let calls = 0;
  const sock = await withServer(t, async (req) => {
    calls++;
    if (req.cmd === 'ping') return { pong: true };
    if (req.cmd === 'boom') throw new Error('kaboom');
    if (req.cmd === 'coded') throw new CodedError('EBUSY', 'busy\nhere');
    if (req.cmd === 'slow') { await new Promise((r) => setTimeout(r, 300)); return 'slow done'; }
    throw new CodedError('ENOSYS', `unknown command ${req.cmd}`);
  });
  t.is(fs.statSync(sock).mode & 0o777, 0o600);

  const lines = await raw(sock, 'garbage\n{"id":1}\n' + 'x'.repeat(MAX_LINE + 10) + '\n{"id":2,"cmd":"ping"}\n', 4);
  const answers = lines.map((l) => JSON.parse(l));
  t.like(answers[0], { id: null, ok: false, error: { code: 'EPROTO' } });
  t.like(answers[1], { id: 1, ok: false, error: { code: 'EINVAL' } });
  t.like(answers[2], { id: null, ok: false, error: { code: 'EMSGSIZE' } });
  t.deepEqual(answers[3], { id: 2, ok: true, result: { pong: true } });

  // Handler failures become error answers; a slow request does not hold up a fast one.
  const c = await ControlClient.connect(sock);
  t.teardown(() => c.close());
  const slow = c.request('slow');
  t.deepEqual(await c.request('ping'), { pong: true });
  await t.throwsAsync(c.request('boom'), { message: 'kaboom' });
  const coded = await t.throwsAsync(c.request('coded'));
  t.is((coded as CodedError).code, 'EBUSY');
  t.is(coded?.message, 'busy here');
  await t.throwsAsync(c.request('nope'), { message: /unknown command/ });
  t.is(await slow, 'slow done');
  t.is(calls, 6);

  // A client that sends half a line and hangs up does not hurt the server.
  await new Promise<void>((r) => { const x = net.createConnection(sock, () => { x.end('{"id":9,"cmd":"pi'); r(); }); });
  t.deepEqual(await callDaemon(sock, 'ping'), { pong: true });
});

test('control client: no daemon → ENODAEMON; a timeout → ETIMEDOUT', async (t) => {
  const err = await t.throwsAsync(callDaemon('/tmp/dmfs-no-such-dir/control.sock', 'ping'));
  t.is((err as CodedError).code, 'ENODAEMON');
  const sock = await withServer(t, () => new Promise(() => undefined));
  const e2 = await t.throwsAsync(callDaemon(sock, 'hang', {}, { timeoutMs: 200 }));
  t.is((e2 as CodedError).code, 'ETIMEDOUT');
});
