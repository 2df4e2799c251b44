// Progress of long migrations and recalls: a bar redrawn in place on a terminal, plain lines at
// each quarter otherwise (logs, pipes), nothing under --json (the answer is the JSON).
export class Progress {
  private lastQuarter = -1;
  private lastDraw = 0;

  constructor(private readonly label: string, private readonly total: number, private readonly stream: NodeJS.WriteStream | null = process.stderr) {}

  update(done: number): void {
    const s = this.stream;
    if (!s) return;
    const frac = this.total > 0 ? Math.min(1, done / this.total) : 1;
    if (s.isTTY) {
      const now = Date.now();
      if (now - this.lastDraw < 100 && frac < 1) return;
      this.lastDraw = now;
      const w = 30;
      const n = Math.round(frac * w);
      s.write(`\r${this.label} [${'#'.repeat(n)}${' '.repeat(w - n)}] ${(frac * 100).toFixed(0).padStart(3)}% ${fmtBytes(done)}/${fmtBytes(this.total)}\x1b[K`);
      if (frac >= 1) s.write('\n');
    } else {
      const q = Math.floor(frac * 4);
      if (q === this.lastQuarter) return;
      this.lastQuarter = q;
      s.write(`${this.label}: ${q * 25}% (${fmtBytes(done)} of ${fmtBytes(this.total)})\n`);
    }
  }
}

export function fmtBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const u = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < u.length - 1) { v /= 1024; i++; }
  return `${v.toFixed(1)} ${u[i]}`;
}
