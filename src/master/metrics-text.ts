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

/** A histogram series' line starts: one per bucket (+Inf last), then `_sum` and `_count`. */
interface HistogramStarts {
  readonly bounds: readonly number[];
  readonly starts: readonly Buffer[];
}

const isHistogram = (start: Buffer | HistogramStarts): start is HistogramStarts => "starts" in start;

const sameBounds = (a: readonly number[], b: readonly number[]): boolean =>
  a.length === b.length && a.every((bound, i) => bound === b[i]);

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
  readonly #starts = new Map<string, { start: Buffer | HistogramStarts; used: number }>();

  constructor(name: string, type: FamilyType, help: string) {
    this.#name = name;
    this.#head = Buffer.from(`# HELP ${name} ${escapeHelp(help)}\n# TYPE ${name} ${type}\n`);
  }

  /** Starts the family's text of a new scrape: its HELP and TYPE lines. */
  begin(): void {
    const last = this.#scrape++;
    this.#starts.forEach((entry, labels, starts) => {
      if (entry.used !== last) starts.delete(labels);
    });
    this.#length = 0;
    this.#put(this.#head);
  }

  /** One sample line; `labels` formatted by {@link formatLabels} ("" for none). */
  sample(labels: string, value: number): void {
    let start = this.#cached(labels);
    if (start === null || isHistogram(start)) {
      start = lineStart(this.#name, labels);
      this.#starts.set(labels, { start, used: this.#scrape });
    }
    this.#put(start);
    this.#value(value);
  }

  /**
   * A histogram series from per-bucket counts (bounds in ms, counts not cumulative, +Inf last),
   * written as Prometheus wants it: `_bucket` lines in s and cumulative, `_sum` in s, `_count`.
   */
  histogram(labels: string, bounds: readonly number[], counts: readonly number[], sumMs: number): void {
    let cached = this.#cached(labels);
    if (cached === null || !isHistogram(cached) || !sameBounds(cached.bounds, bounds)) {
      const bucket = `${this.#name}_bucket`;
      const starts = bounds.map((bound) => lineStart(bucket, joinLabels(labels, leLabel(bound))));
      starts.push(lineStart(bucket, joinLabels(labels, leLabel(Infinity))));
      starts.push(lineStart(`${this.#name}_sum`, labels), lineStart(`${this.#name}_count`, labels));
      cached = { bounds: [...bounds], starts };
      this.#starts.set(labels, { start: cached, used: this.#scrape });
    }
    const { starts } = cached;
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

  /** This scrape's lines (a view of the family's buffer, valid until its next {@link begin}). */
  bytes(): Buffer {
    return this.#bytes.subarray(0, this.#length);
  }

  /** The series' cached line start(s), marked as used by this scrape; null if none. */
  #cached(labels: string): Buffer | HistogramStarts | null {
    const entry = this.#starts.get(labels);
    if (entry === undefined) return null;
    entry.used = this.#scrape;
    return entry.start;
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
