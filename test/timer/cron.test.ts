import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { describe, it } from "node:test";
import { InvalidArgTypeError, InvalidArgValueError } from "../../src/errors.ts";
import { makeTimers, statsOf } from "../helpers/timer-system.ts";

const iso = (ms: number): string => new Date(ms).toISOString();

/** Runs a cron timer from `from` for `hours`, returning the due times of its runs as ISO strings. */
function runsOf(expression: string, tz: string, from: string, hours: number): string[] {
  const { timers, clock } = makeTimers({ wallStart: Date.parse(from) });
  const dues: string[] = [];
  timers.cron({ cron: expression, tz }, () => {
    const run = timers.current();
    assert.ok(run !== undefined);
    assert.equal(run.due * 1000, clock.wallNow(), "each run starts on its tick");
    dues.push(iso(run.due * 1000));
  });
  clock.advance(hours * 3_600_000);
  return dues;
}

describe("ngx.timer.cron", () => {
  it("takes six fields with seconds first", () => {
    assert.deepEqual(runsOf("*/20 * * * * *", "UTC", "2025-01-01T00:00:00Z", 1 / 60), [
      "2025-01-01T00:00:20.000Z",
      "2025-01-01T00:00:40.000Z",
      "2025-01-01T00:01:00.000Z",
    ]);
  });

  it("takes five fields as minutes first (second 0)", () => {
    assert.deepEqual(runsOf("30 * * * *", "UTC", "2025-01-01T00:00:00Z", 2), [
      "2025-01-01T00:30:00.000Z",
      "2025-01-01T01:30:00.000Z",
    ]);
  });

  it("reads the expression in the time zone given", () => {
    // 09:00 in New York is 14:00 UTC in winter.
    assert.deepEqual(runsOf("0 0 9 * * *", "America/New_York", "2025-01-01T00:00:00Z", 24), [
      "2025-01-01T14:00:00.000Z",
    ]);
  });

  it("keeps the time zone's name as given (Intl spells Asia/Kathmandu as its old alias), and runs in it", () => {
    const { timers } = makeTimers({ wallStart: Date.parse("2025-01-01T00:00:00Z") });
    timers.cron({ cron: "0 0 9 * * *", tz: "Asia/Kathmandu", name: "ktm" }, () => 0);
    // Before: status and metrics said "Asia/Katmandu".
    assert.equal(statsOf(timers, "ktm").tz, "Asia/Kathmandu");
    // 09:00 in Kathmandu (UTC+5:45) is 03:15 UTC.
    assert.deepEqual(runsOf("0 0 9 * * *", "Asia/Kathmandu", "2025-01-01T00:00:00Z", 24), [
      "2025-01-01T03:15:00.000Z",
    ]);
  });

  describe("daylight saving in Europe/Berlin (croner's policy, docs/timers.md)", () => {
    it("spring forward: a fixed-time job in the gap runs at the first valid time after it, once", () => {
      // 2025-03-30: 02:00 CET becomes 03:00 CEST (01:00 UTC); 02:30 does not exist.
      assert.deepEqual(runsOf("0 30 2 * * *", "Europe/Berlin", "2025-03-29T00:00:00Z", 72), [
        "2025-03-29T01:30:00.000Z", // 02:30 CET
        "2025-03-30T01:00:00.000Z", // 03:00 CEST, the end of the gap
        "2025-03-31T00:30:00.000Z", // 02:30 CEST
      ]);
    });

    it("spring forward: an interval job skips the times in the gap", () => {
      assert.deepEqual(runsOf("0 */30 * * * *", "Europe/Berlin", "2025-03-30T00:00:00Z", 1.5), [
        "2025-03-30T00:30:00.000Z", // 01:30 CET
        "2025-03-30T01:00:00.000Z", // 03:00 CEST: 02:00 and 02:30 never happen
        "2025-03-30T01:30:00.000Z", // 03:30 CEST
      ]);
    });

    it("fall back: a fixed-time job in the repeated hour runs once, at the first occurrence", () => {
      // 2025-10-26: 03:00 CEST becomes 02:00 CET (01:00 UTC); 02:30 happens twice.
      assert.deepEqual(runsOf("0 30 2 * * *", "Europe/Berlin", "2025-10-25T12:00:00Z", 48), [
        "2025-10-26T00:30:00.000Z", // 02:30 CEST; not again at 02:30 CET (01:30 UTC)
        "2025-10-27T01:30:00.000Z", // 02:30 CET
      ]);
    });

    it("fall back: an interval job runs on both occurrences of the repeated hour", () => {
      assert.deepEqual(runsOf("0 */30 * * * *", "Europe/Berlin", "2025-10-26T00:00:00Z", 2), [
        "2025-10-26T00:30:00.000Z", // 02:30 CEST
        "2025-10-26T01:00:00.000Z", // 02:00 CET
        "2025-10-26T01:30:00.000Z", // 02:30 CET
        "2025-10-26T02:00:00.000Z", // 03:00 CET
      ]);
    });
  });

  it("passes premature and the user arguments, and gets its premature call at exit", () => {
    const { timers, clock } = makeTimers();
    const calls: unknown[][] = [];
    timers.cron("* * * * * *", (...args: unknown[]) => calls.push(args), "a", 1);
    clock.advance(2000);
    timers.beginExit();
    clock.advance(5000);
    assert.deepEqual(calls, [
      [false, "a", 1],
      [false, "a", 1],
      [true, "a", 1],
    ]);
  });

  it("overlap: false skips ticks while a run is still going", async () => {
    const { timers, clock } = makeTimers();
    let started = 0;
    let finish = (): void => undefined;
    timers.cron({ cron: "* * * * * *", overlap: false }, () => {
      started++;
      return new Promise<void>((resolve) => (finish = resolve));
    });
    clock.advance(3000);
    assert.equal(started, 1);
    finish();
    await new Promise((resolve) => setImmediate(resolve));
    clock.advance(1000);
    assert.equal(started, 2);
  });

  it("ends done after its last occurrence (a year field)", () => {
    const { timers, clock } = makeTimers({ wallStart: Date.parse("2025-12-31T23:59:58Z") });
    let runs = 0;
    const timer = timers.cron({ cron: "0 0 0 1 1 * 2026", tz: "UTC" }, () => runs++);
    clock.advance(10_000);
    assert.equal(runs, 1);
    assert.equal(timer.state, "done");
    assert.equal(timers.pendingCount, 0);
  });

  it("refuses an invalid expression, naming it and what croner says", () => {
    const { timers } = makeTimers();
    const cron = timers.cron.bind(timers) as (...args: unknown[]) => unknown;
    assert.throws(() => cron("61 * * * * *", () => 0), {
      name: "RangeError",
      code: "ERR_TSRESTY_INVALID_ARG_VALUE",
      message:
        /^ngx\.timer\.cron: "cron" must be a cron expression of 5 fields.*\(second takes 0-59\), received a string \("61 \* \* \* \* \*"\)$/,
    });
    // croner counts months and days from 0 and would report month 13 as "12": the field's range instead
    assert.throws(
      () => cron("* * * 13 *", () => 0),
      /\(month takes 1-12 or JAN-DEC\), received a string \("\* \* \* 13 \*"\)$/,
    );
    assert.throws(() => cron("* * 1,32 * *", () => 0), /\(day of month takes 1-31\)/);
    assert.throws(
      () => cron("* * * * 8", () => 0),
      /\(day of week takes 0-7 \(0 and 7 are Sunday\) or SUN-SAT\)/,
    );
    assert.throws(() => cron("* * 5-2 * *", () => 0), /\(From value is larger than to value: '5-2'\)/);
    assert.throws(() => cron("every minute", () => 0), InvalidArgValueError);
    assert.throws(() => cron("2030-01-01T00:00:00", () => 0), /received a string \("2030-01-01T00:00:00"\)/);
    assert.throws(
      () => cron({ cron: "0 0 30 2 *" }, () => 0),
      /"cron" must be an expression that still has an occurrence/,
    );
    assert.throws(() => cron(42, () => 0), InvalidArgTypeError);
    assert.throws(() => cron({ cron: "* * * * *", every: 1 }, () => 0), /unknown option "every"/);
    assert.equal(timers.pendingCount, 0);
  });

  it("refuses an unknown time zone, naming it", () => {
    const { timers } = makeTimers();
    assert.throws(() => timers.cron({ cron: "* * * * *", tz: "Mars/Olympus_Mons" }, () => 0), {
      name: "RangeError",
      message:
        'ngx.timer.cron: "tz" must be an IANA time zone name such as "Europe/Berlin", received a string ("Mars/Olympus_Mons")',
    });
  });

  it("reads an empty or unknown TZ (TZ=, TZ=Factory) as UTC, as the C library does, and a POSIX rule (TZ=UTC+3) as the local time it gives", () => {
    const saved = process.env["TZ"];
    const firstRun = (tz: string): { due: string; zone: string | null } => {
      process.env["TZ"] = tz; // Node tells V8 and Intl at once
      const { timers, clock } = makeTimers({ wallStart: Date.parse("2025-01-01T00:00:00Z") });
      const dues: string[] = [];
      timers.cron({ cron: "0 0 9 * * *", name: "nine" }, () =>
        dues.push(iso((timers.current()?.due ?? 0) * 1000)),
      );
      const zone = statsOf(timers, "nine").tz;
      clock.advance(24 * 3_600_000);
      return { due: dues[0] ?? "none", zone };
    };
    try {
      // Before: croner's TypeError ("Failed to convert date to timezone 'Etc/Unknown'") at creation.
      assert.deepEqual(firstRun(""), { due: "2025-01-01T09:00:00.000Z", zone: "UTC" });
      assert.deepEqual(firstRun("Factory"), { due: "2025-01-01T09:00:00.000Z", zone: "UTC" });
      // POSIX: UTC+3 is three hours behind UTC.
      assert.deepEqual(firstRun("UTC+3"), { due: "2025-01-01T12:00:00.000Z", zone: null });
      // 09:00 in Tokyo is midnight UTC: the first after the start is the next day's.
      assert.deepEqual(firstRun("Asia/Tokyo"), { due: "2025-01-02T00:00:00.000Z", zone: "Asia/Tokyo" });
    } finally {
      if (saved === undefined) delete process.env["TZ"];
      else process.env["TZ"] = saved;
    }
  });

  it("takes the process's own zone when no tz is given", () => {
    const { timers } = makeTimers();
    timers.cron({ cron: "0 0 * * * *", name: "hourly" }, () => 0);
    const stats = statsOf(timers, "hourly");
    assert.equal(stats.tz, Intl.DateTimeFormat().resolvedOptions().timeZone);
  });
});

describe("croner's loading", () => {
  it("waits for the first cron timer: a process with tsresty's runtime and no cron timer does not hold it", () => {
    const script = `
      import { createRequire } from "node:module";
      const require = createRequire(import.meta.url);
      const held = () => Object.keys(require.cache).some((path) => path.includes("croner"));
      const { ngx } = await import("tsresty");
      const before = held();
      const timer = ngx.timer.cron("0 0 1 1 *", () => undefined);
      console.log(JSON.stringify({ before, after: held(), kind: timer.kind }));
      timer.cancel();
    `;
    const out = execFileSync(
      process.execPath,
      ["--conditions=tsresty-source", "--import", "tsx", "--input-type=module", "-e", script],
      { encoding: "utf8", timeout: 30_000, killSignal: "SIGKILL" },
    );
    assert.deepEqual(JSON.parse(out.trim().split("\n").at(-1) ?? ""), {
      before: false,
      after: true,
      kind: "cron",
    });
  });
});
