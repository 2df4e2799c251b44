// The output every benchmark shares: a table with our figure, the native or peer figure beside it
// and their ratio, then (with --json) one JSON object on the last line:
//   {"metrics": {"<name>": {"value": N, "unit": "..."}, ...}}
// Names are snake_case and end in their unit (_per_s, _mb_per_s, _us, _ms, _s, _ratio); a row with
// a peer adds the peer's metric and `<ratio name>` = ours / peer.

export interface Peer {
  /** Metric name of the peer figure (ends in the same unit). */
  name: string;
  /** Column label, e.g. "native ext4" or "fanotify (C)". */
  label: string;
  value: number;
  /** Metric name of ours / peer (ends in _ratio). */
  ratio: string;
}

export interface Row {
  name: string;
  value: number;
  /** The plain unit ("µs", "events/s"), also the peer's. */
  unit: string;
  /** What was measured, shown after the unit in the table only (e.g. "4 readers"). */
  what?: string;
  peer?: Peer | null;
  /** e.g. "≤ 100" or "≥ 10,000": printed with "met" or "MISSED". */
  target?: { op: '<=' | '>='; value: number };
  /** Digits after the decimal point when printed (default: 0 above 100, else 1). */
  digits?: number;
}

const UNIT_SUFFIX = /_(per_s|mb_per_s|us|ms|s|ratio)$/;

function fmt(v: number, digits?: number): string {
  const d = digits ?? (Math.abs(v) >= 100 ? 0 : 1);
  return v.toLocaleString('en-US', { minimumFractionDigits: d, maximumFractionDigits: d });
}

const round = (v: number) => (Math.abs(v) >= 100 ? Math.round(v) : Math.round(v * 100) / 100);

/** The --json metrics of a report, each name checked for its unit. */
function metricSink(): { metrics: Record<string, { value: number; unit: string }>; put(name: string, value: number, unit: string): void } {
  const metrics: Record<string, { value: number; unit: string }> = {};
  return {
    metrics,
    put(name, value, unit) {
      if (!UNIT_SUFFIX.test(name)) throw new Error(`benchmark metric ${name}: the name must end in its unit`);
      metrics[name] = { value: round(value), unit };
    },
  };
}

/** `-- --rounds N` (a whole number ≥ 1), else `dflt`. */
export function roundsArg(dflt: number): number {
  const i = process.argv.indexOf('--rounds');
  const n = i < 0 ? dflt : Number(process.argv[i + 1]);
  if (!Number.isInteger(n) || n < 1) throw new Error('--rounds takes a whole number ≥ 1');
  return n;
}

/** Prints the table (and the JSON line with --json). Throws on a metric name without its unit. */
export function report(title: string, rows: Row[], opts: { json: boolean; notes?: string[] }): void {
  const { metrics, put } = metricSink();
  const table: string[][] = [['metric', 'ours', 'peer', 'peer value', 'ours/peer', 'unit', 'target']];
  for (const r of rows) {
    put(r.name, r.value, r.unit);
    let ratio = '';
    if (r.peer) {
      put(r.peer.name, r.peer.value, r.unit);
      if (r.peer.value !== 0) {
        put(r.peer.ratio, r.value / r.peer.value, 'ratio');
        ratio = (r.value / r.peer.value).toFixed(2);
      }
    }
    let target = '';
    if (r.target) {
      const met = r.target.op === '<=' ? r.value <= r.target.value : r.value >= r.target.value;
      target = `${r.target.op === '<=' ? '≤' : '≥'} ${fmt(r.target.value, 0)} ${met ? 'met' : 'MISSED'}`;
    }
    table.push([r.name, fmt(r.value, r.digits), r.peer?.label ?? '', r.peer ? fmt(r.peer.value, r.digits) : '', ratio, r.what ? `${r.unit}, ${r.what}` : r.unit, target]);
  }
  const widths = table[0].map((_, c) => Math.max(...table.map((r) => r[c].length)));
  const right = new Set([1, 3, 4]);
  console.log(title);
  for (const r of table) console.log(r.map((c, i) => (right.has(i) ? c.padStart(widths[i]) : c.padEnd(widths[i]))).join('  ').trimEnd());
  for (const n of opts.notes ?? []) console.log(`note: ${n}`);
  if (opts.json) console.log(JSON.stringify({ metrics }));
}

/** The p-th quantile (0..1) of samples (sorted copy; nearest rank). */
export function quantile(samples: readonly number[], p: number): number {
  const s = [...samples].sort((x, y) => x - y);
  return s[Math.min(s.length - 1, Math.floor(p * s.length))];
}

/** The median of samples (mean of the middle two for an even count). */
export function median(samples: readonly number[]): number {
  const s = [...samples].sort((x, y) => x - y);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** One system's samples of one metric over the rounds (null: not measurable there). */
export type Samples = number[] | null;

export interface MatrixRow {
  /** Metric stem, snake_case without unit (e.g. "randread_4k_direct"). */
  name: string;
  /** Unit suffix of the per-system metrics ("per_s", "mb_per_s", "us"). */
  suffix: 'per_s' | 'mb_per_s' | 'us' | 'ms';
  unit: string;
  /** Samples per system key, in the order of `systems`. */
  samples: Record<string, Samples>;
}

export interface MatrixRatio {
  /** Metric name, ends in _ratio. */
  name: string;
  /** Row (metric stem) it is computed on. */
  row: string;
  ours: string;
  peer: string;
  /** Per-round ratios (ours / peer of the same round); the median is the figure. */
  rounds: number[];
  target?: { op: '<=' | '>='; value: number };
}

const cell = (s: Samples, digits?: number): string => {
  if (!s || s.length === 0) return '—';
  const lo = Math.min(...s);
  const hi = Math.max(...s);
  return s.length === 1 ? fmt(s[0], digits) : `${fmt(median(s), digits)} (${fmt(lo, digits)}–${fmt(hi, digits)})`;
};

/**
 * Several systems side by side, measured over interleaved rounds: per metric the median and the
 * range over the rounds of each system, then the like-for-like ratios (median of the per-round
 * ratios, with their range). With --json: every system's median as `<system>_<name>_<suffix>` and
 * every ratio, on the last line.
 */
export function reportMatrix(title: string, systems: { key: string; label: string }[], rows: MatrixRow[], ratios: MatrixRatio[],
  opts: { json: boolean; notes?: string[] }): void {
  const { metrics, put } = metricSink();
  const table: string[][] = [['metric', 'unit', ...systems.map((s) => s.label)]];
  for (const r of rows) {
    table.push([r.name, r.unit, ...systems.map((s) => cell(r.samples[s.key]))]);
    for (const s of systems) {
      const v = r.samples[s.key];
      if (v && v.length) put(`${s.key}_${r.name}_${r.suffix}`, median(v), r.unit);
    }
  }
  const widths = table[0].map((_, c) => Math.max(...table.map((r) => r[c].length)));
  const line = (r: string[]) => r.map((c, i) => (i >= 2 ? c.padStart(widths[i]) : c.padEnd(widths[i]))).join('  ').trimEnd();
  console.log(title);
  console.log('median over the rounds (min–max)');
  for (const r of table) console.log(line(r));
  const rt: string[][] = [['ratio', 'median', 'range', 'target']];
  for (const q of ratios) {
    if (!q.rounds.length) continue;
    const m = median(q.rounds);
    put(q.name, m, 'ratio');
    let target = '';
    if (q.target) {
      const met = q.target.op === '<=' ? m <= q.target.value : m >= q.target.value;
      target = `${q.target.op === '<=' ? '≤' : '≥'} ${q.target.value} ${met ? 'met' : 'MISSED'}`;
    }
    rt.push([q.name, m.toFixed(2), `${Math.min(...q.rounds).toFixed(2)}–${Math.max(...q.rounds).toFixed(2)}`, target]);
  }
  if (rt.length > 1) {
    const w = rt[0].map((_, c) => Math.max(...rt.map((r) => r[c].length)));
    console.log('');
    for (const r of rt) console.log(r.map((c, i) => (i === 1 || i === 2 ? c.padStart(w[i]) : c.padEnd(w[i]))).join('  ').trimEnd());
  }
  for (const n of opts.notes ?? []) console.log(`note: ${n}`);
  if (opts.json) console.log(JSON.stringify({ metrics }));
}
