// Names as bytes. A Linux name is any bytes but '/' and NUL, and nothing in dmapifs decodes one:
// a backing-relative path is a RelPath, a JS string holding one char per byte (latin1), which is
// how the FUSE binding delivers names, how readdir lists them here, how the handle index keeps them
// and how event messages and the DMAPI protocol carry them (as the same bytes). It becomes a Buffer
// only at a system call (bytes()). No leading '/'; '' is the root of the backing directory.
export type RelPath = string;

/** The bytes of a RelPath (or of a name). */
export function bytes(s: string): Buffer {
  return Buffer.from(s, 'latin1');
}

/** A RelPath (or name) from bytes. */
export function fromBytes(b: Buffer | Uint8Array): RelPath {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('latin1');
}

/** The RelPath of a mount path ('/' → '', '/a/b' → 'a/b'). */
export function relOf(mountPath: string): RelPath {
  return mountPath.length <= 1 ? '' : mountPath.slice(1);
}

/** `name` in the directory `dir`. */
export function child(dir: RelPath, name: string): RelPath {
  return dir === '' ? name : `${dir}/${name}`;
}

/** The directory holding `rel` and its last name ('' and '.' for the root). */
export function split(rel: RelPath): { parent: RelPath; name: string } {
  if (rel === '') return { parent: '', name: '.' };
  const i = rel.lastIndexOf('/');
  return i < 0 ? { parent: '', name: rel } : { parent: rel.slice(0, i), name: rel.slice(i + 1) };
}
