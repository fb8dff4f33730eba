import { createRequire } from "node:module";
import type { Cron } from "croner";
import { InvalidArgTypeError, InvalidArgValueError } from "../errors.ts";

/**
 * croner, loaded with the first cron timer (its CommonJS build, so that `ngx.timer.cron` stays
 * synchronous): a process without cron timers does not hold it (`npm run bench:boot`, idle RSS).
 */
let CronClass: typeof Cron | null = null;
const loadCron = (): typeof Cron =>
  (CronClass ??= (createRequire(import.meta.url)("croner") as { Cron: typeof Cron }).Cron);

/** Five fields (minutes first), six (seconds first) or seven (a year last); or a nickname. */
const FIELDS = /^\s*\S+(\s+\S+){4,6}\s*$/;
const NICKNAME = /^\s*@(yearly|annually|monthly|weekly|daily|hourly)\s*$/i;

/**
 * What each field takes, for croner's "Invalid value for FIELD: N": croner counts days and
 * months from 0 and reports its own number (month 13 as "12"), so the message names the field's
 * range instead of that number.
 */
const RANGES: Readonly<Record<string, string>> = {
  second: "second takes 0-59",
  minute: "minute takes 0-59",
  hour: "hour takes 0-23",
  day: "day of month takes 1-31",
  month: "month takes 1-12 or JAN-DEC",
  dayOfWeek: "day of week takes 0-7 (0 and 7 are Sunday) or SUN-SAT",
  year: "year takes 1-9999",
};

/** croner's reason for refusing an expression, in the expression's own terms. */
function cronerReason(error: unknown): string {
  const reason = error instanceof Error ? error.message.replace(/^CronPattern: /, "") : String(error);
  const field = /^Invalid value for (\w+):/.exec(reason)?.[1];
  return (field !== undefined && RANGES[field]) || reason;
}

/**
 * A cron schedule, parsed by croner, whose occurrences are instants (epoch ms). Croner decides
 * what happens around daylight-saving changes (docs/timers.md, "Daylight saving"); this file
 * only asks it for the next and the previous occurrence.
 */
export class CronSchedule {
  /** The expression as given. */
  readonly expression: string;
  /**
   * The IANA zone the expression is read in, resolved (the process's own zone by default); null
   * when the process's TZ is a POSIX rule that names no zone ("UTC+3"): its local time then.
   */
  readonly tz: string | null;
  readonly #cron: Cron;

  constructor(expression: string, tz: string | null, cron: Cron) {
    this.expression = expression;
    this.tz = tz;
    this.#cron = cron;
  }

  /** The first occurrence strictly after `after` (epoch ms), or null when there is none. */
  next(after: number): number | null {
    return this.#cron.nextRun(new Date(after))?.getTime() ?? null;
  }

  /** The last occurrence at or before `at` (epoch ms), or null when there is none. */
  previous(at: number): number | null {
    return this.#cron.previousRuns(1, new Date(at + 1))[0]?.getTime() ?? null;
  }
}

/**
 * The zone `tz` names, as the caller spelled it (Intl would give some zones an older alias:
 * "Asia/Kathmandu" comes back "Asia/Katmandu"); the process's own zone when `tz` is undefined.
 */
function resolveZone(where: string, tz: unknown): string | null {
  if (tz === undefined) return processZone();
  if (typeof tz !== "string" || tz === "") {
    throw new InvalidArgTypeError(where, "tz", 'an IANA time zone name such as "Europe/Berlin"', tz);
  }
  if (!knownZone(tz))
    throw new InvalidArgValueError(where, "tz", 'an IANA time zone name such as "Europe/Berlin"', tz);
  return tz;
}

function knownZone(tz: string): boolean {
  try {
    new Intl.DateTimeFormat("en-US", { timeZone: tz }).format(0);
    return true;
  } catch {
    return false;
  }
}

/**
 * The process's own zone, from TZ. An empty or unknown TZ (`TZ=`, common in containers, or
 * `TZ=Factory`) resolves to "Etc/Unknown", which no zone API takes: the C library reads such a TZ
 * as UTC, and so does Date here, so cron does too. A POSIX rule that names no zone ("UTC+3")
 * resolves to nothing (null): the expression is read in the local time Date keeps for it.
 */
function processZone(): string | null {
  const zone = Intl.DateTimeFormat().resolvedOptions().timeZone as string | undefined;
  if (zone === undefined) return null;
  return knownZone(zone) ? zone : "UTC";
}

/**
 * Parses a cron expression read in zone `tz`, at `now` (epoch ms). Refuses, naming the problem:
 * anything but 5 to 7 fields or a nickname (croner would take an ISO date as a one-shot time),
 * what croner refuses, and an expression with no occurrence after `now`.
 */
export function parseCron(where: string, expression: unknown, tz: unknown, now: number): CronSchedule {
  if (typeof expression !== "string") {
    throw new InvalidArgTypeError(where, "cron", "a cron expression string", expression);
  }
  const expected = "a cron expression of 5 fields, 6 with seconds first, or 7 with a year last";
  if (!FIELDS.test(expression) && !NICKNAME.test(expression)) {
    throw new InvalidArgValueError(where, "cron", expected, expression);
  }
  const zone = resolveZone(where, tz);
  let cron: Cron;
  try {
    cron = new (loadCron())(expression.trim(), zone === null ? {} : { timezone: zone });
  } catch (error) {
    throw new InvalidArgValueError(where, "cron", `${expected} (${cronerReason(error)})`, expression);
  }
  const schedule = new CronSchedule(expression, zone, cron);
  if (schedule.next(now) === null) {
    throw new InvalidArgValueError(where, "cron", "an expression that still has an occurrence", expression);
  }
  return schedule;
}
