// Errors that cross the control socket: a short machine code (errno-like, e.g. ENOENT, EBUSY) and a
// one-line human message.

export class CodedError extends Error {
  readonly code: string;
  constructor(code: string, message: string) {
    super(oneLine(message));
    this.code = code;
    this.name = 'CodedError';
  }
}

/** Collapses a message to one line (control answers and CLI errors are one line each). */
export function oneLine(s: string): string {
  return String(s).replace(/\s*[\r\n]+\s*/g, ' ').trim();
}

/** The {code, message} body of an error answer, for any thrown value. */
export function errorBody(e: unknown): { code: string; message: string } {
  if (e && typeof e === 'object') {
    const x = e as { code?: unknown; message?: unknown };
    const code = typeof x.code === 'string' && x.code ? x.code : 'EINTERNAL';
    const message = typeof x.message === 'string' && x.message ? x.message : String(e);
    return { code, message: oneLine(message) };
  }
  return { code: 'EINTERNAL', message: oneLine(String(e)) };
}
