// Per-filesystem DMAPI configuration, persisted in the reserved area of the backing directory:
//   .dmapifs/config.json   { "fsid": "<16 hex digits>", "dmapi": true|false }
// like `mmchfs -z`: the CLI changes it only while the filesystem is not mounted (dmapifs chfs, or
// dmapifs mount --dmapi just before mounting); the daemon reads it at each mount. The fsid is
// random, created once, never 0, and is what every handle of the filesystem starts with.
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import { RESERVED_DIR } from '../backing/private';

/** The reserved area (src/backing/private.ts), re-exported for the CLI. */
export const RESERVED = RESERVED_DIR;
export const CONFIG_FILE = 'config.json';

export interface FsConfig {
  fsid: bigint;
  dmapi: boolean;
}

function configPath(backing: string): string {
  return path.join(backing, RESERVED, CONFIG_FILE);
}

function newFsid(): bigint {
  for (;;) {
    const v = crypto.randomBytes(8).readBigUInt64LE(0);
    if (v !== 0n) return v;
  }
}

/** Writes a file atomically (temporary file + rename), fsynced. */
export function writeAtomic(file: string, data: string | Buffer, mode = 0o600): void {
  const tmp = `${file}.tmp-${process.pid}`;
  const fd = fs.openSync(tmp, 'w', mode);
  try {
    fs.writeSync(fd, typeof data === 'string' ? Buffer.from(data) : data);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  fs.renameSync(tmp, file);
}

/**
 * Reads the configuration of a backing directory, creating it (with a new fsid, DMAPI disabled)
 * when missing. Synchronous: only for backing paths, which never lie inside our own mounts.
 */
export function loadFsConfig(backing: string): FsConfig {
  const p = configPath(backing);
  try {
    const j = JSON.parse(fs.readFileSync(p, 'utf8')) as { fsid?: unknown; dmapi?: unknown };
    if (typeof j.fsid === 'string' && /^[0-9a-f]{16}$/.test(j.fsid) && BigInt('0x' + j.fsid) !== 0n) {
      return { fsid: BigInt('0x' + j.fsid), dmapi: j.dmapi === true };
    }
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT' && !(e instanceof SyntaxError)) throw e;
  }
  const cfg: FsConfig = { fsid: newFsid(), dmapi: false };
  saveFsConfig(backing, cfg);
  return cfg;
}

export function saveFsConfig(backing: string, cfg: FsConfig): void {
  fs.mkdirSync(path.join(backing, RESERVED), { recursive: true, mode: 0o700 });
  writeAtomic(configPath(backing), JSON.stringify({ fsid: cfg.fsid.toString(16).padStart(16, '0'), dmapi: cfg.dmapi }) + '\n');
}
