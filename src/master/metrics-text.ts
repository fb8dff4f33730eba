/**
 * Prometheus' text exposition format (0.0.4), written directly: `# HELP` and `# TYPE` once per
 * family, then one `name{labels} value` line per sample. Label values escape `\`, `"` and newlines;
 * help texts `\` and newlines.
 *
 * A page is written straight into bytes, into buffers kept from one scrape to the next, and what
 * does not change between scrapes is encoded once: each series' line starts (`name{labels} `, a
 * histogram's per bucket) are kept, and whole integers are written digit by digit. So a scrape
 * makes next to no garbage and touches no new memory. (Built as one JavaScript string, the page of
 * `npm run bench:metrics` cost several times as much CPU, most of it in the collector; and on these
 * VMs, merely copying 350 KB into a new buffer costs over a millisecond, in page faults.)
 */

export type FamilyType = "counter" | "gauge" | "histogram";

const escapeLabel = (value: string): string =>
  /["\\\n]/.test(value) ? value.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n") : value;
const escapeHelp = (text: string): string => text.replace(/\\/g, "\\\\").replace(/\n/g, "\\n");

/** `a="1",b="2"` for `{ a: "1", b: "2" }` (insertion order). */
export function formatLabels(labels: Readonly<Record<string, string>>): string {
  let out = "";
  for (const key in labels) out += `${out === "" ? "" : ","}${key}="${escapeLabel(labels[key] ?? "")}"`;
  return out;
}

/** Joins formatted label lists, skipping empty ones. */
export const joinLabels = (a: string, b: string): string => (a === "" ? b : b === "" ? a : `${a},${b}`);

const formatValue = (value: number): string =>
  Number.isNaN(value) ? "NaN" : value === Infinity ? "+Inf" : value === -Infinity ? "-Inf" : String(value);

/** `name{labels} ` (or `name ` without labels), encoded. */
const lineStart = (name: string, labels: string): Buffer =>
  Buffer.from(labels === "" ? `${name} ` : `${name}{${labels}} `);

/** The `le="…"` label of a bucket (bounds in ms, written in s). */
const leLabel = (bound: number): string => `le="${bound === Infinity ? "+Inf" : String(bound / 1000)}"`;

/**
 * A series' encoded line starts: one for a sample; for a histogram one per bucket (+Inf last), then
 * `_sum` and `_count`, made for `bounds`. `used` is the last scrape that wrote the series.
 */
interface SeriesStarts {
  readonly bounds: readonly number[] | null;
  readonly starts: readonly Buffer[];
  used: number;
}

function sameBounds(a: readonly number[] | null, b: readonly number[]): boolean {
  if (a === null || a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * One family's lines, as UTF-8 bytes in a buffer kept from one scrape to the next. Each scrape
 * calls {@link begin}, then {@link sample} or {@link histogram} once per series, then reads
 * {@link bytes}. Series not written in a scrape are forgotten at the next one.
 */
export class FamilyText {
  readonly #name: string;
  readonly #head: Buffer;
  #bytes = Buffer.allocUnsafe(4096);
  #length = 0;
  #scrape = 0;
  /** Series written by the current scrape, each counted once. */
  #written = 0;
  readonly #series = new Map<string, SeriesStarts>();

  constructor(name: string, type: FamilyType, help: string) {
    this.#name = name;
    this.#head = Buffer.from(`# HELP ${name} ${escapeHelp(help)}\n# TYPE ${name} ${type}\n`);
  }

  /** Starts the family's text of a new scrape: its HELP and TYPE lines. */
  begin(): void {
    const last = this.#scrape++;
    // Only when the last scrape left some series out: most scrapes write the same series.
    if (this.#series.size > this.#written) {
      this.#series.forEach((series, labels, all) => {
        if (series.used !== last) all.delete(labels);
      });
    }
    this.#written = 0;
    this.#length = 0;
    this.#put(this.#head);
  }

  /** One sample line; `labels` formatted by {@link formatLabels} ("" for none). */
  sample(labels: string, value: number): void {
    const kept = this.#used(labels);
    const series =
      kept !== null && kept.bounds === null
        ? kept
        : this.#remember(labels, { bounds: null, starts: [lineStart(this.#name, labels)] });
    this.#put(series.starts[0] as Buffer);
    this.#value(value);
  }

  /**
   * A histogram series from per-bucket counts (bounds in ms, counts not cumulative, +Inf last),
   * written as Prometheus wants it: `_bucket` lines in s and cumulative, `_sum` in s, `_count`.
   */
  histogram(labels: string, bounds: readonly number[], counts: ArrayLike<number>, sumMs: number): void {
    let series = this.#used(labels);
    if (series === null || !sameBounds(series.bounds, bounds)) {
      const bucket = `${this.#name}_bucket`;
      const starts = [...bounds, Infinity].map((bound) =>
        lineStart(bucket, joinLabels(labels, leLabel(bound))),
      );
      starts.push(lineStart(`${this.#name}_sum`, labels), lineStart(`${this.#name}_count`, labels));
      series = this.#remember(labels, { bounds: [...bounds], starts });
    }
    const { starts } = series;
    let cumulative = 0;
    for (let i = 0; i <= bounds.length; i++) {
      cumulative += counts[i] ?? 0;
      this.#put(starts[i] as Buffer);
      this.#value(cumulative);
    }
    this.#put(starts[bounds.length + 1] as Buffer);
    this.#value(sumMs / 1000);
    this.#put(starts[bounds.length + 2] as Buffer);
    this.#value(cumulative);
  }

  /** How many series' line starts are kept (for tests: what a scrape no longer writes is let go). */
  get kept(): number {
    return this.#series.size;
  }

  /** This scrape's lines (a view of the family's buffer, valid until its next {@link begin}). */
  bytes(): Buffer {
    return this.#bytes.subarray(0, this.#length);
  }

  /** The series' line starts, marked as used by this scrape; null if none are kept. */
  #used(labels: string): SeriesStarts | null {
    const series = this.#series.get(labels);
    if (series === undefined) return null;
    if (series.used !== this.#scrape) {
      series.used = this.#scrape;
      this.#written++;
    }
    return series;
  }

  #remember(labels: string, series: Omit<SeriesStarts, "used">): SeriesStarts {
    const kept = { ...series, used: this.#scrape };
    if (this.#series.get(labels)?.used !== this.#scrape) this.#written++;
    this.#series.set(labels, kept);
    return kept;
  }

  #room(bytes: number): void {
    if (this.#length + bytes <= this.#bytes.length) return;
    const grown = Buffer.allocUnsafe(Math.max(this.#bytes.length * 2, this.#length + bytes));
    this.#bytes.copy(grown, 0, 0, this.#length);
    this.#bytes = grown;
  }

  #put(bytes: Buffer): void {
    this.#room(bytes.length);
    this.#bytes.set(bytes, this.#length);
    this.#length += bytes.length;
  }

  /** The value and the newline: whole numbers digit by digit, others as JavaScript prints them. */
  #value(value: number): void {
    this.#room(32);
    const out = this.#bytes;
    if (Number.isSafeInteger(value) && value >= 0) {
      let digits = 1;
      for (let rest = value; rest >= 10; rest = Math.floor(rest / 10)) digits++;
      let at = this.#length + digits;
      let rest = value;
      do {
        out[--at] = 48 + (rest % 10);
        rest = Math.floor(rest / 10);
      } while (rest > 0);
      this.#length += digits;
    } else {
      this.#length += out.write(formatValue(value), this.#length, "latin1");
    }
    out[this.#length++] = 10;
  }
}
