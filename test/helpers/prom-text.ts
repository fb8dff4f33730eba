/**
 * A checker of Prometheus' text exposition format (0.0.4), as strict as `promtool check metrics`
 * on what matters here: every sample line is `name{labels} value`; HELP and TYPE come once per
 * family, before its samples; TYPE is one Prometheus knows; no series twice; a histogram's
 * buckets are cumulative (never decreasing with `le`), end with `le="+Inf"`, and that bucket
 * equals `_count`. `parsePromText` throws an Error naming the line at the first problem.
 */

export interface PromSample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

export interface PromFamily {
  readonly name: string;
  readonly type: string;
  readonly help: string;
  readonly samples: PromSample[];
}

const TYPES = ["counter", "gauge", "histogram", "summary", "untyped"];
const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const SAMPLE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)(?: (-?\d+))?$/;
const LABEL = /^([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\["\\n])*)"(?:,|$)/;

function parseLabels(text: string, line: string): Record<string, string> {
  const labels: Record<string, string> = {};
  let rest = text;
  while (rest.length > 0) {
    const match = LABEL.exec(rest);
    if (match === null) throw new Error(`bad labels in: ${line}`);
    const [whole, key = "", raw = ""] = match;
    if (Object.hasOwn(labels, key)) throw new Error(`label ${key} twice in: ${line}`);
    labels[key] = raw.replace(/\\(["\\n])/g, (_, c: string) => (c === "n" ? "\n" : c));
    rest = rest.slice(whole.length);
  }
  return labels;
}

function parseValue(text: string, line: string): number {
  if (text === "+Inf") return Infinity;
  if (text === "-Inf") return -Infinity;
  if (text === "NaN") return NaN;
  const value = Number(text);
  if (text === "" || Number.isNaN(value)) throw new Error(`bad value in: ${line}`);
  return value;
}

/** The family a sample belongs to: its own name, or a histogram's/summary's base name. */
function familyOf(name: string, families: Map<string, PromFamily>): PromFamily | undefined {
  const direct = families.get(name);
  if (direct !== undefined) return direct;
  const base = /^(.*)_(bucket|sum|count)$/.exec(name)?.[1];
  const family = base === undefined ? undefined : families.get(base);
  return family?.type === "histogram" || family?.type === "summary" ? family : undefined;
}

const seriesKey = (s: PromSample): string =>
  `${s.name}{${Object.entries(s.labels)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([k, v]) => `${k}=${JSON.stringify(v)}`)
    .join(",")}}`;

function checkHistogram(family: PromFamily): void {
  const groups = new Map<string, PromSample[]>();
  for (const sample of family.samples) {
    const rest = Object.fromEntries(Object.entries(sample.labels).filter(([k]) => k !== "le"));
    const key = seriesKey({ name: family.name, labels: rest, value: 0 });
    if (!groups.has(key)) groups.set(key, []);
    groups.get(key)?.push(sample);
  }
  for (const [key, samples] of groups) {
    const buckets = samples
      .filter((s) => s.name === `${family.name}_bucket`)
      .map((s) => ({ le: parseValue(s.labels["le"] ?? "", key), value: s.value }));
    if (buckets.length === 0) throw new Error(`histogram ${key} has no buckets`);
    const sorted = [...buckets].sort((a, b) => a.le - b.le);
    sorted.forEach((b, i) => {
      if (i > 0 && b.value < (sorted[i - 1]?.value ?? 0))
        throw new Error(`histogram ${key}: bucket le=${b.le} is below the one before`);
    });
    const inf = sorted.at(-1);
    if (inf?.le !== Infinity) throw new Error(`histogram ${key} has no le="+Inf" bucket`);
    const count = samples.find((s) => s.name === `${family.name}_count`);
    const sum = samples.find((s) => s.name === `${family.name}_sum`);
    if (count === undefined || sum === undefined) throw new Error(`histogram ${key} lacks _count or _sum`);
    if (count.value !== inf.value)
      throw new Error(`histogram ${key}: +Inf bucket ${inf.value} ≠ _count ${count.value}`);
  }
}

/** Parses and checks `text`; the families by name. */
export function parsePromText(text: string): Map<string, PromFamily> {
  if (!text.endsWith("\n")) throw new Error("the text does not end with a newline");
  const families = new Map<string, PromFamily>();
  const helps = new Map<string, string>();
  const seen = new Set<string>();
  const sampled = new Set<string>();
  for (const line of text.split("\n")) {
    if (line === "") continue;
    const meta = /^# (HELP|TYPE) (\S+)(?: (.*))?$/.exec(line);
    if (meta !== null) {
      const [, kind, name = "", rest = ""] = meta;
      if (!NAME.test(name)) throw new Error(`bad metric name in: ${line}`);
      if (sampled.has(name)) throw new Error(`${kind} after the samples of ${name}: ${line}`);
      if (kind === "HELP") {
        if (helps.has(name)) throw new Error(`HELP twice for ${name}`);
        helps.set(name, rest);
      } else {
        if (families.has(name)) throw new Error(`TYPE twice for ${name}`);
        if (!TYPES.includes(rest)) throw new Error(`unknown TYPE in: ${line}`);
        families.set(name, { name, type: rest, help: helps.get(name) ?? "", samples: [] });
      }
      continue;
    }
    if (line.startsWith("#")) continue;
    const match = SAMPLE.exec(line);
    if (match === null) throw new Error(`not a sample line: ${line}`);
    const [, name = "", labelText = "", valueText = ""] = match;
    const sample = { name, labels: parseLabels(labelText, line), value: parseValue(valueText, line) };
    const family = familyOf(name, families);
    if (family === undefined) throw new Error(`a sample before its TYPE (or without one): ${line}`);
    if (!helps.has(family.name)) throw new Error(`a sample before its HELP: ${line}`);
    const key = seriesKey(sample);
    if (seen.has(key)) throw new Error(`series twice: ${key}`);
    seen.add(key);
    sampled.add(family.name);
    family.samples.push(sample);
  }
  for (const family of families.values()) if (family.type === "histogram") checkHistogram(family);
  return families;
}

/** The samples of `name` (a family or a histogram's `_bucket`/`_sum`/`_count`) whose labels include `labels`. */
export function samples(
  families: Map<string, PromFamily>,
  name: string,
  labels: Readonly<Record<string, string>> = {},
): PromSample[] {
  const family = familyOf(name, families);
  return (family?.samples ?? []).filter(
    (s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v),
  );
}

/** The sum of the values of {@link samples}. */
export function total(
  families: Map<string, PromFamily>,
  name: string,
  labels: Readonly<Record<string, string>> = {},
): number {
  return samples(families, name, labels).reduce((sum, s) => sum + s.value, 0);
}

/** Every series of a counter (or a histogram's buckets and counts) as `key → value`. */
export function counterSeries(families: Map<string, PromFamily>): Map<string, number> {
  const out = new Map<string, number>();
  for (const family of families.values()) {
    if (family.type !== "counter" && family.type !== "histogram") continue;
    for (const sample of family.samples)
      if (!sample.name.endsWith("_sum")) out.set(seriesKey(sample), sample.value);
  }
  return out;
}
