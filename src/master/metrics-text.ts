/**
 * Prometheus' text exposition format (0.0.4), written directly: `# HELP` and `# TYPE` once per
 * family, then one `name{labels} value` line per sample. Label values escape `\`, `"` and newlines;
 * help texts `\` and newlines. A series' labels are formatted once and reused by all its lines (a
 * histogram's buckets, sum and count).
 */

export type FamilyType = "counter" | "gauge" | "histogram";

export interface TextSample {
  /** The sample's name when it is not the family's (a histogram's `_bucket`, `_sum`, `_count`). */
  readonly name: string;
  /** The formatted labels without braces (`a="1",b="2"`), from {@link formatLabels}; "" for none. */
  readonly labels: string;
  readonly value: number;
}

export interface TextFamily {
  readonly name: string;
  readonly help: string;
  readonly type: FamilyType;
  readonly samples: readonly TextSample[];
}

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

/** The page: every family, in order, each with its samples. */
export function exposition(families: readonly TextFamily[]): string {
  // One string grown by `+=` (V8 keeps it as a rope until it is read): no array of parts.
  let out = "";
  for (const family of families) {
    out += `# HELP ${family.name} ${escapeHelp(family.help)}\n# TYPE ${family.name} ${family.type}\n`;
    for (const sample of family.samples) {
      out +=
        sample.labels === ""
          ? `${sample.name} ${formatValue(sample.value)}\n`
          : `${sample.name}{${sample.labels}} ${formatValue(sample.value)}\n`;
    }
  }
  return out;
}
