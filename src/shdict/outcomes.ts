/**
 * The addon's outcome codes, `(code << 1) | forcible`, as OpenResty's reasons. Results of the
 * writes are frozen objects made once here, so a `set` allocates nothing.
 */
import { ShdictError } from "../errors.ts";

/**
 * OpenResty's reasons, as its shdict returns them.
 * @example
 * const added = ngx.shared["dogs"]!.add("Jim", 8);
 * if (!added.ok && added.reason === "exists") ngx.log(ngx.INFO, "already there");
 */
export type Reason =
  "exists" | "not found" | "no memory" | "not a number" | "value is a list" | "value not a list";

export const OK = 0;
const REASONS: readonly (Reason | null)[] = [
  null,
  "exists",
  "not found",
  "no memory",
  "not a number",
  "value is a list",
  "value not a list",
];

/** What the codes that mean the zone itself failed say (native/src/dict.h). */
const FAILURES: Readonly<Record<number, string>> = {
  8: "out of memory in this process while copying a value",
  9: "a shard of the zone was found overwritten (a link out of its heap) and was emptied",
};

/** The reason of an outcome; throws for the codes that mean the zone itself failed. */
export function reasonOf(where: string, outcome: number): Reason | null {
  const reason = REASONS[outcome >> 1];
  if (reason === undefined) {
    throw new ShdictError(`${where}: ${FAILURES[outcome >> 1] ?? `unexpected outcome ${outcome}`}`);
  }
  return reason;
}

export function forcibleOf(outcome: number): boolean {
  return (outcome & 1) === 1;
}

/**
 * The outcome of a store: `set`, `add`, `replace`, their safe forms, `delete`.
 * @example
 * const stored = ngx.shared["dogs"]!.set("Jim", 8);
 * if (stored.ok && stored.forcible) ngx.log(ngx.WARN, "evicted valid items to make room");
 */
export type StoreResult =
  | { readonly ok: true; readonly forcible: boolean }
  | { readonly ok: false; readonly reason: "exists" | "not found" | "no memory"; readonly forcible: boolean };

const STORE_RESULTS: StoreResult[] = [];
for (const reason of [null, "exists", "not found", "no memory"] as const) {
  for (const forcible of [false, true]) {
    STORE_RESULTS.push(
      Object.freeze(reason === null ? { ok: true, forcible } : { ok: false, reason, forcible }),
    );
  }
}

export function storeResult(where: string, outcome: number): StoreResult {
  const result = STORE_RESULTS[outcome];
  if (result === undefined) {
    reasonOf(where, outcome);
    throw new ShdictError(`${where}: unexpected outcome ${outcome}`);
  }
  return result;
}
