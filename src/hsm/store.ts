// Where the HSM keeps archive copies: a small interface, so that a tape library, an object store
// or another filesystem can stand behind the same HSM; DirectoryStore keeps them as files.
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as path from 'path';

export interface ArchiveWriter {
  write(chunk: Buffer): Promise<void>;
  /** Makes the copy durable and visible under its key. */
  commit(): Promise<void>;
  /** Drops a copy that was not committed. */
  abort(): Promise<void>;
}

export interface ArchiveStore {
  /** A human description ("directory /archive"). */
  readonly where: string;
  /** A fresh key for a new copy. */
  newKey(): string;
  create(key: string): Promise<ArchiveWriter>;
  /** Reads [off, off+len) of a committed copy (shorter at its end). */
  read(key: string, off: number, len: number): Promise<Buffer>;
  size(key: string): Promise<number | null>;
  remove(key: string): Promise<void>;
  /** Removes what an interrupted run left (copies never committed). */
  cleanup(): Promise<string[]>;
}

const KEY_RE = /^[0-9a-f]{24}$/;

/** Archive copies as files DIR/<key>; a copy being written is DIR/.partial/<key> until committed. */
export class DirectoryStore implements ArchiveStore {
  readonly where: string;
  private readonly partial: string;

  constructor(private readonly dir: string) {
    this.where = `directory ${dir}`;
    this.partial = path.join(dir, '.partial');
    fs.mkdirSync(this.partial, { recursive: true, mode: 0o700 });
  }

  newKey(): string {
    return crypto.randomBytes(12).toString('hex');
  }

  private file(key: string): string {
    if (!KEY_RE.test(key)) throw Object.assign(new Error(`not an archive key: '${key}'`), { code: 'EINVAL' });
    return path.join(this.dir, key);
  }

  async create(key: string): Promise<ArchiveWriter> {
    const final = this.file(key);
    const tmp = path.join(this.partial, key);
    const fh = await fs.promises.open(tmp, 'wx', 0o600);
    let done = false;
    return {
      write: async (chunk) => { await fh.write(chunk); },
      commit: async () => {
        await fh.sync();
        await fh.close();
        done = true;
        await fs.promises.rename(tmp, final);
        // The rename must survive a crash too: sync the directory.
        const d = await fs.promises.open(this.dir, 'r');
        try { await d.sync(); } finally { await d.close(); }
      },
      abort: async () => {
        if (!done) await fh.close().catch(() => undefined);
        done = true;
        await fs.promises.rm(tmp, { force: true });
      },
    };
  }

  async read(key: string, off: number, len: number): Promise<Buffer> {
    const fh = await fs.promises.open(this.file(key), 'r');
    try {
      const b = Buffer.alloc(len);
      const { bytesRead } = await fh.read(b, 0, len, off);
      return b.subarray(0, bytesRead);
    } finally {
      await fh.close();
    }
  }

  async size(key: string): Promise<number | null> {
    try { return (await fs.promises.stat(this.file(key))).size; } catch { return null; }
  }

  async remove(key: string): Promise<void> {
    await fs.promises.rm(this.file(key), { force: true });
  }

  async cleanup(): Promise<string[]> {
    const left = await fs.promises.readdir(this.partial).catch(() => [] as string[]);
    for (const f of left) await fs.promises.rm(path.join(this.partial, f), { force: true });
    return left;
  }
}
