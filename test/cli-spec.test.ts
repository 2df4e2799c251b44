// The command line is derived from one specification (src/cli/spec.ts): `help X` and `X --help`
// print the same text for every command and subcommand, the top-level usage lists every option
// of every command, and errors are one JSON object under --json.
import test from 'ava';
import * as fs from 'fs';
import { COMMANDS } from '../src/cli/main';
import { optionsOf, usageLine, type Command } from '../src/cli/spec';
import { useCluster } from './helpers/cluster';

const cluster = useCluster();

const all: Command[] = COMMANDS.flatMap((e) => (e.kind === 'group' ? e.subcommands : [e]));

test('help X and X --help agree for every command, and every group has help', async (t) => {
  for (const c of all) {
    const words = c.name.split(' ');
    const a = await cluster.cli(['help', ...words]);
    const b = await cluster.cli([...words, '--help']);
    t.is(a.code, 0, `help ${c.name}: ${a.stderr}`);
    t.is(b.code, 0, `${c.name} --help: ${b.stderr}`);
    t.is(a.stdout, b.stdout, `help ${c.name} = ${c.name} --help`);
    t.true(a.stdout.startsWith(`usage: ${usageLine(c)}\n`));
    for (const o of optionsOf(c)) t.true(a.stdout.includes(`--${o.name}`), `${c.name} help lists --${o.name}`);
  }
  for (const e of COMMANDS.filter((x) => x.kind === 'group')) {
    const a = await cluster.cli(['help', e.name]);
    const b = await cluster.cli([e.name, '--help']);
    t.is(a.code, 0, `help ${e.name}: ${a.stderr}`);
    t.is(a.stdout, b.stdout);
    t.regex(a.stdout, /^usage:\n/);
  }
  // The two topics that used to have no help.
  for (const topic of ['locks', 'cluster']) {
    const r = await cluster.cli(['help', topic]);
    t.is(r.code, 0);
    t.notRegex(r.stdout + r.stderr, /no help/);
  }
  const none = await cluster.cli(['help', 'frobnicate']);
  t.is(none.code, 2);
  t.regex(none.stderr, /no help for 'frobnicate'/);
});

test('the top-level usage lists every command with every option', async (t) => {
  const r = await cluster.cli(['--help']);
  t.is(r.code, 0);
  for (const c of all) t.true(r.stdout.includes(usageLine(c)), `usage lists: ${usageLine(c)}`);
  t.is((await cluster.cli(['help'])).stdout, r.stdout);
});

test('errors are one JSON object on stdout under --json', async (t) => {
  const usage = await cluster.cli(['status', '--frob', '--json']);
  t.is(usage.code, 2);
  t.is(usage.stderr, '');
  const u = JSON.parse(usage.stdout) as { error: { code: string; message: string; exit: number } };
  t.is(u.error.code, 'EUSAGE');
  t.is(u.error.exit, 2);
  t.regex(u.error.message, /unknown option --frob for 'status'/);

  // A failure of the command itself: no daemon runs for this node.
  const down = await cluster.cli(['locks', '--node', 'nobody-runs-this', '--json']);
  t.is(down.code, 1);
  t.is(down.stderr, '');
  const d = JSON.parse(down.stdout) as { error: { code: string; message: string } };
  t.regex(d.error.code, /^E[A-Z]+$/);
  t.regex(d.error.message, /no daemon/);
  // Without --json the same failure is one line on stderr.
  const plain = await cluster.cli(['locks', '--node', 'nobody-runs-this']);
  t.is(plain.stdout, '');
  t.regex(plain.stderr, /^dmapifs: .*no daemon.*\n$/);
  t.deepEqual(fs.readdirSync(cluster.runDir), []);
});

test('options: required, repeated, unknown, values', async (t) => {
  let r = await cluster.cli(['chfs', '/tmp']);
  t.is(r.code, 2);
  t.regex(r.stderr, /chfs needs --dmapi yes\|no/);
  r = await cluster.cli(['umount', '-x', '/tmp']);
  t.regex(r.stderr, /unknown option -x for 'umount'/);
  r = await cluster.cli(['node', 'stop', '--foreground']);
  t.regex(r.stderr, /unknown option --foreground for 'node stop'/);
  r = await cluster.cli(['status', '--json=yes']);
  t.regex(r.stdout + r.stderr, /option --json takes no value/);
  r = await cluster.cli(['mount', '--capacity', '0', '/a', '/b']);
  t.is(r.code, 2);
  t.regex(r.stderr, /--capacity must be a positive size/);
});
