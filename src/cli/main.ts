// The dmapifs command line: the table of commands (each declared once, in its own file, with the
// help and options that src/cli/spec.ts derives the parser and the help from) and the dispatcher.
//
// Errors are one line on stderr ("dmapifs: ..."), or {"error": {code, message, exit}} on stdout
// under --json; exit codes: 0 success, 1 failure, 2 bad usage, 3 "node not running" from
// `node status`.
import { VERSION } from '../common/version';
import { errorBody } from '../common/errors';
import { CHFS } from './chfs';
import { CLUSTER } from './cluster';
import { EXIT_FAIL, EXIT_OK, EXIT_USAGE, safeDefaultNode } from './common';
import { LOCKS } from './locks';
import { DM } from './dm';
import { EVENTS } from './events';
import { fuseFormArgs } from './fuse-form';
import { HSM } from './hsm';
import { CONFIG, MOUNT, UMOUNT } from './mount';
import { errRaw, fail, out } from './output';
import { Entry, entryHelp, lookup, mainUsage, parse, subcommand, UsageError, wantsJson } from './spec';
import { NODE, STATUS } from './status';

/** Every command, in the order the usage lists them. */
export const COMMANDS: Entry[] = [MOUNT, UMOUNT, CHFS, CONFIG, STATUS, LOCKS, CLUSTER, NODE, DM, EVENTS, HSM];

/** Other names of commands. */
const ALIASES: Record<string, string> = { unmount: 'umount' };

function usage(): string {
  return mainUsage(COMMANDS, `dmapifs ${VERSION}: FUSE passthrough filesystem served by a per-node daemon`,
    `dmapifs BACKING MOUNTPOINT -o dmapi,capacity=SIZE,node=NAME,... is the form mount -t fuse.dmapifs
and fstab entries of type fuse.dmapifs run (through mount.fuse3).
NAME defaults to the host name (${safeDefaultNode()}). Runtime files live in
$DMAPIFS_RUN_DIR/NAME (default /run/dmapifs/NAME): control.sock, daemon.pid, daemon.log.
dmapifs help COMMAND, or dmapifs COMMAND --help, shows a command's options.
Exit codes: 0 ok, 1 failure, 2 bad usage, 3 node not running (node status).`);
}

/** `help [COMMAND [SUBCOMMAND]]` */
function help(words: string[]): number {
  if (!words.length) { out(usage()); return EXIT_OK; }
  const e = lookup(COMMANDS, [ALIASES[words[0]] ?? words[0], ...words.slice(1)]);
  if (!e) throw new UsageError(`no help for '${words.join(' ')}' (commands: ${COMMANDS.map((c) => c.name).join(', ')})`);
  out(entryHelp(e));
  return EXIT_OK;
}

export async function main(argv: string[]): Promise<number> {
  const json = wantsJson(argv);
  try {
    const word = argv[0];
    switch (word) {
      case undefined:
        errRaw(usage());
        return EXIT_USAGE;
      case '--help': case '-h':
        return help([]);
      case 'help':
        return help(argv.slice(1));
      case '--version': case '-V': case 'version':
        out(VERSION);
        return EXIT_OK;
    }
    const e = COMMANDS.find((c) => c.name === (ALIASES[word] ?? word));
    if (!e) {
      // mount.fuse3's form (mount -t fuse.dmapifs, fstab): dmapifs BACKING MOUNTPOINT -o OPTIONS
      const ff = fuseFormArgs(argv);
      if (ff) return await MOUNT.run(parse(MOUNT, ff));
      if (word.startsWith('-')) throw new UsageError(`unknown option ${word}`);
      throw new UsageError(`unknown command '${word}'`);
    }
    let rest = argv.slice(1);
    if (e.kind === 'group' && (rest[0] === '--help' || rest[0] === '-h' || rest[0] === 'help')) {
      return help(rest[0] === 'help' ? [e.name, ...rest.slice(1)] : [e.name]);
    }
    const c = e.kind === 'group' ? subcommand(e, rest) : e;
    if (e.kind === 'group') rest = rest.slice(1);
    const inv = parse(c, rest);
    if (inv.opts.help) { out(entryHelp(c)); return EXIT_OK; }
    return await c.run(inv);
  } catch (e) {
    if (e instanceof UsageError) {
      fail(json, 'EUSAGE', `${e.message} (see dmapifs --help)`, EXIT_USAGE);
      return EXIT_USAGE;
    }
    const b = errorBody(e);
    fail(json, b.code, b.message, EXIT_FAIL);
    return EXIT_FAIL;
  }
}

if (require.main === module) {
  main(process.argv.slice(2)).then((code) => process.exit(code), (e) => {
    fail(false, 'EINTERNAL', String((e as Error)?.stack ?? e), EXIT_FAIL);
    process.exit(EXIT_FAIL);
  });
}
