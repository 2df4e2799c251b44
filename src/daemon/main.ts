// Entry point of the node daemon:
//   node dist/src/daemon/main.js --node NAME [--log-format text|json] [--log-level debug|info|warn|error] [--restore-mounts]
//
// Normally started by the CLI (detached, output to <run dir>/daemon.log); can be run in the
// foreground by hand or by a service manager (`dmapifs node start --foreground`: logs on stderr
// too, readiness on $NOTIFY_SOCKET). Exits 0 after a clean stop (SIGINT, SIGTERM or the `stop`
// command), 1 when it cannot start (2 for bad arguments).
import { Daemon, VERSION } from './daemon';
import { errorBody } from '../common/errors';
import { Level, LOG_FORMATS, LOG_LEVELS, LogFormat, logOptionsFromEnv, LogOptions } from '../common/log';
import { checkNodeName, defaultNodeName } from '../common/paths';
import type { MountFn } from './mount-service';

function usage(): string {
  return 'usage: node dist/src/daemon/main.js [--node NAME] [--log-format text|json] [--log-level debug|info|warn|error] [--restore-mounts]'
    + '   (run directory: $DMAPIFS_RUN_DIR or /run/dmapifs)';
}

export interface RunOptions {
  log?: LogOptions;
  restoreMounts?: boolean;
}

function parseArgs(argv: string[]): { node: string } & RunOptions {
  let node: string | undefined;
  const log: LogOptions = logOptionsFromEnv();
  let restoreMounts = false;
  const value = (i: number, name: string) => {
    if (i + 1 >= argv.length) throw new Error(`${name} needs a value`);
    return argv[i + 1];
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--node') {
      node = value(i++, a);
    } else if (a.startsWith('--node=')) {
      node = a.slice('--node='.length);
    } else if (a === '--log-format') {
      const v = value(i++, a);
      if (!(LOG_FORMATS as string[]).includes(v)) throw new Error(`--log-format is ${LOG_FORMATS.join(' or ')}`);
      log.format = v as LogFormat;
    } else if (a === '--log-level') {
      const v = value(i++, a);
      if (!(LOG_LEVELS as string[]).includes(v)) throw new Error(`--log-level is one of ${LOG_LEVELS.join(', ')}`);
      log.level = v as Level;
    } else if (a === '--restore-mounts') {
      restoreMounts = true;
    } else if (a === '--help' || a === '-h') {
      process.stdout.write(usage() + '\n');
      process.exit(0);
    } else if (a === '--version') {
      process.stdout.write(VERSION + '\n');
      process.exit(0);
    } else {
      throw new Error(`unknown argument: ${a}`);
    }
  }
  return { node: checkNodeName(node ?? defaultNodeName()), log, restoreMounts };
}

function loadMountFn(): MountFn {
  // The filesystem layer is loaded on first use: a daemon can start (and report errors clearly)
  // even when the FUSE binding cannot load.
  // eslint-disable-next-line @typescript-eslint/no-var-requires
  return (opts) => (require('../fs/mount') as typeof import('../fs/mount')).mountFs(opts);
}

/** Runs a daemon in this process until it stops; resolves with its exit code. */
export async function runDaemon(node: string, ro: RunOptions = {}): Promise<number> {
  let daemon: Daemon;
  let resolveExit: (code: number) => void = () => undefined;
  const exited = new Promise<number>((resolve) => { resolveExit = resolve; });
  try {
    daemon = new Daemon({ node, mountFn: loadMountFn(), onExit: (code) => resolveExit(code), log: ro.log, restoreMounts: ro.restoreMounts });
  } catch (e) {
    process.stderr.write(`dmapifs daemon: ${errorBody(e).message}\n`);
    return 1;
  }
  // One bad request or one failing FUSE handler must not take all mounts down with the process.
  process.on('uncaughtException', (e) => daemon.log.error(`uncaught exception: ${(e as Error)?.stack ?? e}`));
  process.on('unhandledRejection', (e) => daemon.log.error(`unhandled rejection: ${(e as Error)?.stack ?? e}`));
  try {
    await daemon.start();
  } catch (e) {
    const b = errorBody(e);
    process.stderr.write(`dmapifs daemon: ${b.message}\n`);
    return b.code === 'EALREADY' ? 3 : 1;
  }
  return exited;
}

if (require.main === module) {
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs(process.argv.slice(2));
  } catch (e) {
    process.stderr.write(`dmapifs daemon: ${(e as Error).message}\n${usage()}\n`);
    process.exit(2);
  }
  runDaemon(parsed.node, parsed).then((code) => process.exit(code), (e) => {
    process.stderr.write(`dmapifs daemon: ${(e as Error)?.stack ?? e}\n`);
    process.exit(1);
  });
}
