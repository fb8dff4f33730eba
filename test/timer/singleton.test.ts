import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { WALL_START } from "../helpers/manual-clock.ts";
import type { TickGate } from "../../src/timer/index.ts";
import { flushPromises, makeTimers, RecordingGate, statsOf } from "../helpers/timer-system.ts";

const S = 1000;

/** Makes `gate` answer each claim later: the returned function answers the latest one. */
function answerLater(gate: RecordingGate): (won: boolean) => void {
  let answer = (_won: boolean): void => undefined;
  gate.answer = () => new Promise<boolean>((resolve) => (answer = resolve));
  return (won) => {
    answer(won);
  };
}

describe("singleton timers and their gates", () => {
  it("asks the gate at each tick with the tick's epoch due and interval, and runs only claimed ticks", () => {
    const gate = new RecordingGate();
    gate.answer = (_name, due) => (due - WALL_START) % (20 * S) === 0;
    const { timers, clock } = makeTimers({ gates: { host: gate } });
    const ran: number[] = [];
    timers.every({ interval: 10, name: "report", singleton: "host" }, () =>
      ran.push((timers.current()?.due ?? 0) * 1000 - WALL_START),
    );
    clock.advance(40 * S);
    assert.deepEqual(
      gate.claims.map((c) => [c.name, c.due - WALL_START, c.intervalMs]),
      [
        ["report", 10 * S, 10 * S],
        ["report", 20 * S, 10 * S],
        ["report", 30 * S, 10 * S],
        ["report", 40 * S, 10 * S],
      ],
    );
    assert.deepEqual(ran, [20 * S, 40 * S]);
    const stats = statsOf(timers, "report");
    assert.equal(stats.runs, 2);
    assert.equal(stats.skipped, 2);
    assert.equal(stats.singleton, "host");
    assert.equal(stats.align, "epoch");
  });

  it("tells the gate how each claimed run ended", async () => {
    const gate = new RecordingGate();
    const { timers, clock } = makeTimers({ gates: { cluster: gate } });
    let n = 0;
    timers.every({ interval: 1, name: "job", singleton: "cluster" }, async () => {
      await Promise.resolve();
      if (++n === 2) throw new Error("boom");
    });
    clock.advance(2 * S);
    await flushPromises();
    assert.deepEqual(
      gate.settles.map((s) => [s.name, s.due - WALL_START, s.ok]),
      [
        ["job", 1 * S, true],
        ["job", 2 * S, false],
      ],
    );
  });

  it("a claim that resolves later runs the tick then, counted as running only from then", async () => {
    const gate = new RecordingGate();
    const resolveClaim = answerLater(gate);
    const { timers, clock } = makeTimers({ gates: { host: gate } });
    let runs = 0;
    timers.every({ interval: 1, name: "job", singleton: "host" }, () => runs++);
    clock.advance(S);
    assert.equal(runs, 0);
    assert.equal(timers.runningCount, 0);
    assert.equal(timers.pendingCount, 1, "the next tick is armed while the claim is out");
    resolveClaim(true);
    await flushPromises();
    assert.equal(runs, 1);
  });

  it("claims answered after the next tick came due are not run (no burst), counted as skipped, and the gate forgets them", async () => {
    const gate = new RecordingGate();
    const answers: ((won: boolean) => void)[] = [];
    gate.answer = () => new Promise<boolean>((resolve) => answers.push(resolve));
    const { timers, clock, lines } = makeTimers({ gates: { cluster: gate } });
    const ran: number[] = [];
    timers.every({ interval: 1, name: "job", singleton: "cluster" }, () =>
      ran.push((timers.current()?.due ?? 0) * 1000 - WALL_START),
    );
    // A gate that stalled for 4 ticks answers the whole backlog at once, just after tick 4 came due.
    clock.advance(4 * S);
    assert.equal(answers.length, 4);
    for (const answer of answers) answer(true);
    await flushPromises();
    // Before: ticks 1, 2, 3 and 4 all started at this moment, 3 s to 0 s late.
    assert.deepEqual(ran, [4 * S]);
    assert.equal(statsOf(timers, "job").skipped, 3);
    assert.deepEqual(
      gate.settles.filter((x) => !x.ok).map((x) => (x.due - WALL_START) / S),
      [1, 2, 3],
    );
    // Won here and run nowhere: said once for the streak (before: only the skipped count told),
    // and once more when a won claim (tick 4) came in time.
    assert.deepEqual(lines, [
      {
        level: "warn",
        message: `singleton "cluster" claim of timer "job"'s tick due at ${new Date(WALL_START + S).toISOString()} was answered after its next tick came due: that tick runs nowhere (counted as skipped; said once until a claim is answered in time again)`,
      },
      { level: "notice", message: 'singleton "cluster" claims are answered in time again' },
    ]);
  });

  it("a process that wakes after a tick's span passed (a blocked event loop) skips that tick and claims the one due now: a stall costs the ticks slept through, not one more", () => {
    const gate = new RecordingGate();
    const { timers, clock } = makeTimers({ gates: { host: gate } });
    const ran: number[] = [];
    timers.every({ interval: 1, name: "job", singleton: "host" }, () =>
      ran.push((timers.current()?.due ?? 0) * 1000 - WALL_START),
    );
    clock.advance(S); // tick 1 runs
    clock.jump(2_300); // the event loop is blocked from 1 s to 3.3 s: tick 2 fell wholly behind
    clock.advance(2 * S);
    // Before: at 3.3 s it claimed tick 2, found the answer late, and had skipped tick 3 on re-arm,
    // so neither ran (where a plain every runs once): [1, 4, 5], and two ticks skipped.
    assert.deepEqual(ran, [1 * S, 3 * S, 4 * S, 5 * S]);
    assert.deepEqual(
      gate.claims.map((c) => (c.due - WALL_START) / S),
      [1, 3, 4, 5],
    );
    const stats = statsOf(timers, "job");
    assert.equal(stats.skipped, 1, "tick 2, which fell wholly behind");
    // Tick 3 started 0.3 s after its due: its lateness is counted from its own due, not tick 2's.
    assert.equal(stats.lateness?.max, 300);
  });

  it("the same for a cron and for a wall clock stepped forward: the tick due now is claimed, never a burst", () => {
    const gate = new RecordingGate();
    const { timers, clock } = makeTimers({ gates: { host: gate } });
    const crons: number[] = [];
    const everys: number[] = [];
    const due = (): number => ((timers.current()?.due ?? 0) * 1000 - WALL_START) / S;
    timers.cron({ cron: "*/10 * * * * *", tz: "UTC", name: "cron", singleton: "host" }, () =>
      crons.push(due()),
    );
    timers.every({ interval: 10, name: "every", singleton: "host" }, () => everys.push(due()));
    clock.advance(10 * S); // tick 10
    clock.stepWall(35_000); // NTP: the wall clock jumps from 10 s to 45 s
    clock.advance(10 * S); // tick 20, armed on the monotonic clock, fires at wall 55 s: 50 runs
    clock.advance(10 * S); // 60
    assert.deepEqual(crons, [10, 50, 60]);
    assert.deepEqual(everys, [10, 50, 60]);
    // Ticks 20, 30 and 40 fell wholly behind (a cron's passed-over occurrences are not counted).
    assert.equal(statsOf(timers, "every").skipped, 3);
    assert.equal(statsOf(timers, "cron").skipped, 1);
  });

  it("with overlap: false, a catch-up tick won while a run is going is not run, and the gate forgets it", async () => {
    const gate = new RecordingGate();
    gate.last = WALL_START - 3 * 60 * S;
    const answers = new Map<number, (won: boolean) => void>();
    gate.answer = (_name, due) => new Promise<boolean>((resolve) => answers.set(due - WALL_START, resolve));
    const { timers, clock } = makeTimers({ gates: { cluster: gate }, wallStart: WALL_START + 30 * S });
    let finish = (): void => undefined;
    const ran: number[] = [];
    timers.cron(
      {
        cron: "0 * * * * *",
        tz: "UTC",
        name: "minutely",
        singleton: "cluster",
        catchUp: true,
        overlap: false,
      },
      () => {
        ran.push((timers.current()?.due ?? 0) * 1000 - WALL_START);
        return new Promise<void>((r) => (finish = r));
      },
    );
    await flushPromises();
    clock.advance(30 * S); // the regular tick at 00:01:00 is claimed while the catch-up's claim is out
    assert.deepEqual([...answers.keys()], [0, 60 * S]);
    answers.get(60 * S)?.(true);
    await flushPromises();
    assert.deepEqual(ran, [60 * S]);
    // Before: the runner skipped the catch-up run (overlap: false), and the gate never heard of it.
    answers.get(0)?.(true);
    await flushPromises();
    assert.deepEqual(ran, [60 * S]);
    assert.deepEqual(
      gate.settles.map((x) => [x.due - WALL_START, x.ok]),
      [[0, false]],
    );
    finish();
    await flushPromises();
  });

  it("a slow claim never delays the grid", async () => {
    const gate = new RecordingGate();
    gate.answer = () => new Promise<boolean>(() => undefined); // never answers
    const { timers, clock } = makeTimers({ gates: { host: gate } });
    timers.every({ interval: 1, name: "job", singleton: "host" }, () => 0);
    clock.advance(5 * S);
    await flushPromises();
    assert.deepEqual(
      gate.claims.map((c) => (c.due - WALL_START) / S),
      [1, 2, 3, 4, 5],
    );
  });

  it("a failing claim skips the tick, counts claimErrors, and warns once per streak", async () => {
    const gate = new RecordingGate();
    let failing = true;
    gate.answer = (_name, due) => {
      if (!failing) return true;
      if ((due - WALL_START) % (2 * S) === 0) return Promise.reject(new Error("redis down"));
      throw new Error("redis down");
    };
    const { timers, clock, lines } = makeTimers({ gates: { cluster: gate } });
    let runs = 0;
    timers.every({ interval: 1, name: "job", singleton: "cluster" }, () => runs++);
    clock.advance(4 * S);
    await flushPromises();
    assert.equal(runs, 0);
    assert.equal(statsOf(timers, "job").claimErrors, 4);
    assert.equal(
      timers.counts().find((c) => c.name === "job")?.claimErrors,
      4,
      "what a scrape reads (/metrics)",
    );
    const warnings = lines.filter((l) => l.level === "warn");
    assert.equal(warnings.length, 1);
    assert.match(
      warnings[0]?.message ?? "",
      /^singleton "cluster" claim failed \(timer "job"\).*: redis down$/,
    );
    failing = false;
    clock.advance(S);
    assert.equal(runs, 1);
    assert.ok(
      lines.some((l) => l.level === "notice" && l.message === 'singleton "cluster" claims work again'),
    );
    failing = true;
    clock.advance(S);
    await flushPromises();
    assert.equal(lines.filter((l) => l.level === "warn").length, 2, "a new streak warns again");
  });

  it("premature calls are not gated: the process holding the timer gets its one premature call", () => {
    const gate = new RecordingGate();
    gate.answer = () => false;
    const { timers, clock } = makeTimers({ gates: { host: gate } });
    const calls: boolean[] = [];
    timers.every({ interval: 1, name: "job", singleton: "host" }, (premature) => calls.push(premature));
    clock.advance(2 * S);
    timers.beginExit();
    assert.deepEqual(calls, [true]);
    assert.equal(gate.claims.length, 2);
  });

  it("a tick whose claim is won after exit began still runs, and exit waits for the claim: no other process will run it", async () => {
    const gate = new RecordingGate();
    const resolveClaim = answerLater(gate);
    const { timers, clock } = makeTimers({ gates: { cluster: gate } });
    const calls: boolean[] = [];
    timers.every({ interval: 1, name: "job", singleton: "cluster" }, (premature) => calls.push(premature));
    clock.advance(S);
    timers.beginExit();
    assert.deepEqual(calls, [true], "the armed next tick gets its premature call");
    let idle = false;
    void timers.whenIdle().then(() => (idle = true));
    await flushPromises();
    assert.equal(idle, false, "exit waits while the claim is out");
    resolveClaim(true);
    await flushPromises();
    assert.deepEqual(calls, [true, false], "the won tick ran, not premature");
    assert.equal(idle, true);
    assert.deepEqual(
      gate.settles.map((s) => [s.due - WALL_START, s.ok]),
      [[S, true]],
    );
  });

  it("after a fast stop a claim won later does not run, and the stop does not wait for it", async () => {
    const gate = new RecordingGate();
    const resolveClaim = answerLater(gate);
    const { timers, clock } = makeTimers({ gates: { cluster: gate } });
    let runs = 0;
    timers.every({ interval: 1, name: "job", singleton: "cluster" }, () => runs++);
    clock.advance(S);
    timers.destroy();
    let idle = false;
    void timers.whenIdle().then(() => (idle = true));
    await flushPromises();
    assert.equal(idle, true);
    resolveClaim(true);
    await flushPromises();
    assert.equal(runs, 0);
    assert.deepEqual(
      gate.settles.map((s) => s.ok),
      [false],
    );
  });

  it("a claim won after the timer was cancelled does not run, and the gate hears it did not", async () => {
    const gate = new RecordingGate();
    const resolveClaim = answerLater(gate);
    const { timers, clock } = makeTimers({ gates: { host: gate } });
    let runs = 0;
    const timer = timers.every({ interval: 1, name: "job", singleton: "host" }, () => runs++);
    clock.advance(S);
    timer.cancel();
    resolveClaim(true);
    await flushPromises();
    assert.equal(runs, 0);
    assert.deepEqual(
      gate.settles.map((s) => s.ok),
      [false],
    );
  });

  it("a claimed tick dropped for want of a running slot is reported to the gate as not run well", async () => {
    const gate = new RecordingGate();
    const resolveClaim = answerLater(gate);
    const { timers, clock } = makeTimers({ gates: { host: gate }, maxRunning: 1, runningLimit: "drop" });
    timers.every({ interval: 1, name: "job", singleton: "host" }, () => undefined);
    clock.advance(S); // claimed while the slot is free
    let finish = (): void => undefined;
    timers.at(0, () => new Promise<void>((resolve) => (finish = resolve)));
    clock.advance(0); // the slot is taken before the claim is answered
    resolveClaim(true);
    await flushPromises();
    assert.equal(statsOf(timers, "job").dropped, 1);
    assert.deepEqual(
      gate.settles.map((s) => [s.due - WALL_START, s.ok]),
      [[S, false]],
    );
    finish();
    await flushPromises();
  });

  for (const runningLimit of ["wait", "drop"] as const) {
    it(`a process whose running slots are all held does not claim singleton ticks, so another process can win them (runningLimit "${runningLimit}")`, async () => {
      const gate = new RecordingGate(); // wins every claim, as the fastest process of the host would
      const { timers, clock } = makeTimers({ gates: { cluster: gate }, maxRunning: 1, runningLimit });
      let finish = (): void => undefined;
      timers.at(0, () => new Promise<void>((resolve) => (finish = resolve)));
      clock.advance(0);
      let runs = 0;
      timers.every({ interval: 1, name: "job", singleton: "cluster" }, () => runs++);
      clock.advance(5 * S);
      await flushPromises();
      // Before: 5 claims won, none run, none reported to the gate (its fences grew by one a tick).
      assert.equal(gate.claims.length, 0);
      assert.equal(runs, 0);
      const stats = statsOf(timers, "job");
      assert.equal(stats.skipped, 5);
      assert.equal(stats.dropped, 0);
      finish(); // a slot is free again: the next tick is claimed and runs
      await flushPromises();
      clock.advance(S);
      assert.deepEqual(
        gate.claims.map((c) => (c.due - WALL_START) / S),
        [6],
      );
      assert.equal(runs, 1);
    });
  }

  it("a process does not claim a singleton tick while its previous tick still waits for a running slot", async () => {
    const gate = new RecordingGate();
    const { timers, clock } = makeTimers({ gates: { host: gate }, maxRunning: 1 });
    let finish = (): void => undefined;
    const resolveClaim = answerLater(gate);
    timers.every({ interval: 1, name: "job", singleton: "host" }, () => undefined);
    clock.advance(S); // tick 1 claimed while the slot is free
    timers.at(0, () => new Promise<void>((resolve) => (finish = resolve)));
    clock.advance(0);
    resolveClaim(true);
    await flushPromises();
    assert.equal(timers.waitingCount, 1, "the won tick waits for the slot: it must run here");
    gate.answer = () => true;
    clock.advance(2 * S);
    assert.deepEqual(
      gate.claims.map((c) => (c.due - WALL_START) / S),
      [1],
      "ticks 2 and 3 are left to other processes",
    );
    finish();
    await flushPromises();
    assert.equal(statsOf(timers, "job").runs, 1);
    assert.deepEqual(
      gate.settles.map((s) => [(s.due - WALL_START) / S, s.ok]),
      [[1, true]],
    );
  });

  for (const end of ["cancel", "destroy", "beginExit"] as const) {
    it(`a claimed tick still waiting for a running slot that ends not run (${end}) is reported to the gate as not run well`, async () => {
      const gate = new RecordingGate();
      const resolveClaim = answerLater(gate);
      const { timers, clock } = makeTimers({ gates: { cluster: gate }, maxRunning: 1 });
      const calls: boolean[] = [];
      const timer = timers.every({ interval: 1, name: "job", singleton: "cluster" }, (premature) =>
        calls.push(premature),
      );
      clock.advance(S);
      let finish = (): void => undefined;
      timers.at(0, () => new Promise<void>((resolve) => (finish = resolve)));
      clock.advance(0);
      resolveClaim(true);
      await flushPromises();
      assert.equal(timers.waitingCount, 1);
      if (end === "cancel") timer.cancel();
      else timers[end]();
      // Before: the gate never heard of the tick (a RedisGate kept its fence for ever).
      assert.deepEqual(
        gate.settles.map((s) => [(s.due - WALL_START) / S, s.ok]),
        [[1, false]],
      );
      finish();
      await flushPromises();
      assert.deepEqual(calls, end === "beginExit" ? [true] : [], "the tick never ran as a tick");
      assert.equal(gate.settles.length, 1, "reported once");
    });
  }

  it("a singleton kind without a gate throws at creation, naming what is missing", () => {
    const { timers } = makeTimers({ gates: { host: new RecordingGate() } });
    assert.throws(() => timers.every({ interval: 1, name: "x", singleton: "cluster" }, () => 0), {
      name: "ConfigError",
      code: "ERR_TSRESTY_CONFIG",
      message: 'ngx.timer.every: singleton "cluster" needs the config key coordinator ("redis://…")',
    });
    const bare = makeTimers().timers;
    assert.throws(() => bare.cron({ cron: "* * * * *", name: "x", singleton: "host" }, () => 0), {
      message: /^ngx\.timer\.cron: singleton "host" needs the host coordinator/,
    });
    assert.equal(bare.pendingCount, 0);
  });

  it("the gate is told to get ready when a timer of its kind is created, before the first tick; a gate that cannot is logged", () => {
    let prepared = 0;
    const ready: TickGate = {
      claim: () => true,
      prepare: () => {
        prepared++;
      },
    };

    const { timers } = makeTimers({ gates: { cluster: ready } });
    timers.every({ interval: 10, name: "sync", singleton: "cluster" }, () => 0);
    assert.equal(prepared, 1, "at creation, with no tick due yet");
    const broken: TickGate = {
      claim: () => true,
      prepare: () => {
        throw new Error("no client");
      },
    };
    const other = makeTimers({ gates: { cluster: broken } });
    other.timers.every({ interval: 10, name: "sync", singleton: "cluster" }, () => 0);
    assert.deepEqual(other.lines, [
      { level: "warn", message: 'singleton "cluster" gate could not get ready: no client' },
    ]);
    assert.equal(other.timers.pendingCount, 1, "the timer is still made");
  });

  it("overlap: false does not claim a tick it would skip", async () => {
    const gate = new RecordingGate();
    const { timers, clock } = makeTimers({ gates: { host: gate } });
    let finish = (): void => undefined;
    timers.every(
      { interval: 1, name: "job", singleton: "host", overlap: false },
      () => new Promise<void>((r) => (finish = r)),
    );
    clock.advance(3 * S);
    assert.equal(gate.claims.length, 1);
    assert.equal(statsOf(timers, "job").skipped, 2);
    finish();
    await flushPromises();
  });

  it("a cron's last occurrence (no tick after it) runs when claimed, and a later claim of it is late (stop 26)", async () => {
    // 2025-01-01T00:00:03Z, in 2025 only: the schedule's one and last occurrence.
    const gate = new RecordingGate();
    const { timers, clock } = makeTimers({ gates: { host: gate } });
    const dues: number[] = [];
    timers.cron({ cron: "3 0 0 1 1 * 2025", tz: "UTC", name: "once", singleton: "host" }, () =>
      dues.push((timers.current()?.due ?? 0) * 1000 - WALL_START),
    );
    clock.advance(4 * S);
    await flushPromises();
    // Before: its span was 0, so the won claim was always "late": claimed, never run.
    assert.deepEqual(dues, [3 * S]);
    assert.equal(gate.claims.length, 1);
    assert.ok((gate.claims[0]?.intervalMs ?? 0) > 0, "the claim's span is not 0");
    assert.equal(statsOf(timers, "once").skipped, 0);

    // Answered a minute after its due, the same tick is not run (nothing after it to make it late).
    const late = new RecordingGate();
    const answers: ((won: boolean) => void)[] = [];
    late.answer = () => new Promise<boolean>((resolve) => answers.push(resolve));
    const other = makeTimers({ gates: { host: late } });
    let runs = 0;
    other.timers.cron({ cron: "3 0 0 1 1 * 2025", tz: "UTC", name: "once", singleton: "host" }, () => runs++);
    other.clock.advance(3 * S);
    other.clock.advance(60 * S);
    for (const answer of answers) answer(true);
    await flushPromises();
    assert.equal(runs, 0);
    assert.deepEqual(
      late.settles.map((x) => x.ok),
      [false],
    );
  });

  describe("catchUp", () => {
    it("runs the latest missed tick once, at once, claimed like any tick", async () => {
      const gate = new RecordingGate();
      gate.last = WALL_START - 3 * 60 * S; // last ran three ticks ago
      const { timers, clock } = makeTimers({ gates: { cluster: gate }, wallStart: WALL_START + 30 * S });
      const dues: number[] = [];
      timers.cron(
        { cron: "0 * * * * *", tz: "UTC", name: "minutely", singleton: "cluster", catchUp: true },
        () => dues.push((timers.current()?.due ?? 0) * 1000 - WALL_START),
      );
      await flushPromises();
      assert.deepEqual(dues, [0], "the tick at 00:00:00, missed, ran at once; not the two before it");
      assert.deepEqual(
        gate.claims.map((c) => c.due - WALL_START),
        [0],
      );
      clock.advance(30 * S);
      assert.deepEqual(dues, [0, 60 * S]);
    });

    it("a catch-up whose claim is answered after the first regular tick came due is not run (no late burst), and the gate forgets it", async () => {
      const gate = new RecordingGate();
      gate.last = WALL_START - 3 * 60 * S;
      const answers = new Map<number, (won: boolean) => void>();
      gate.answer = (_name, due) => new Promise<boolean>((resolve) => answers.set(due - WALL_START, resolve));
      const { timers, clock } = makeTimers({ gates: { cluster: gate }, wallStart: WALL_START + 30 * S });
      const ran: number[] = [];
      timers.cron(
        { cron: "0 * * * * *", tz: "UTC", name: "minutely", singleton: "cluster", catchUp: true },
        () => ran.push((timers.current()?.due ?? 0) * 1000 - WALL_START),
      );
      await flushPromises();
      clock.advance(30 * S); // the first regular tick (00:01:00) came due while the catch-up's claim is out
      answers.get(60 * S)?.(true);
      await flushPromises();
      // A coordinator that stalled answers the catch-up's claim now (a failover's CLIENT PAUSE).
      answers.get(0)?.(true);
      await flushPromises();
      // Before: the catch-up of 00:00:00 ran after the tick of 00:01:00, in a burst with it.
      assert.deepEqual(ran, [60 * S]);
      assert.equal(statsOf(timers, "minutely").skipped, 1);
      assert.deepEqual(
        gate.settles.map((x) => [x.due - WALL_START, x.ok]),
        [
          [60 * S, true],
          [0, false],
        ],
      );

      // Answered when the first regular tick is due, before it fired, the catch-up is late too.
      const other = new RecordingGate();
      other.last = WALL_START - 3 * 60 * S;
      const later = answerLater(other);
      const second = makeTimers({ gates: { cluster: other }, wallStart: WALL_START + 30 * S });
      let runs = 0;
      second.timers.cron(
        { cron: "0 * * * * *", tz: "UTC", name: "minutely", singleton: "cluster", catchUp: true },
        () => runs++,
      );
      await flushPromises();
      second.clock.stepWall(30 * S);
      later(true);
      await flushPromises();
      assert.equal(runs, 0);
      assert.deepEqual(
        other.settles.map((x) => [x.due - WALL_START, x.ok]),
        [[0, false]],
      );
    });

    it("runs nothing when the timer ran its latest tick somewhere, or never ran anywhere", async () => {
      for (const last of [WALL_START, null, Promise.resolve(WALL_START)]) {
        const gate = new RecordingGate();
        gate.last = last;
        const { timers } = makeTimers({ gates: { host: gate }, wallStart: WALL_START + 5 * S });
        let runs = 0;
        timers.every({ interval: 10, name: "job", singleton: "host", catchUp: true }, () => runs++);
        await flushPromises();
        assert.equal(runs, 0, `last run ${last instanceof Promise ? "a promise" : String(last)}`);
        assert.equal(gate.claims.length, 0);
      }
    });

    it("a cron whose first tick is still ahead has its runs kept all the same: a start after a full stop catches up from them", async () => {
      const gate = new RecordingGate();
      gate.last = WALL_START - 60 * S; // would be a missed tick, if the cron had one before now
      const { timers } = makeTimers({ gates: { host: gate }, wallStart: WALL_START });
      let runs = 0;
      const year = new Date(WALL_START).getUTCFullYear() + 1;
      timers.cron(
        { cron: `0 0 3 * * * ${year}`, tz: "UTC", name: "next-year", singleton: "host", catchUp: true },
        () => runs++,
      );
      await flushPromises();
      // Before: no tick before now, so the gate was never told, and the host gate kept nothing on
      // disk of the runs to come (a full stop between two of them lost the missed one).
      assert.deepEqual(gate.kept, ["next-year"]);
      assert.equal(runs, 0);
      assert.equal(gate.claims.length, 0);
    });

    it("is refused without singleton: only a gate knows which ticks ran", () => {
      const { timers } = makeTimers();
      assert.throws(() => timers.cron({ cron: "* * * * *", catchUp: true }, () => 0), {
        message: /"catchUp" must be false unless "singleton" is set/,
      });
    });
  });
});
