// The addon's system calls (native/src/system.c, and create's and attach's descriptor and zone
// size) read their integer arguments as what they are: a number that is not an integer in range is
// refused by name, never wrapped into int32 (2^32 + 5 was 5: a reap, a descriptor or a watched
// parent of another number) nor cut to an integer (a zone of 8192.5 bytes was one of 8192).
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { after, describe, it } from "node:test";
import { ROOT } from "../helpers/processes.ts";

interface Report {
  battery: Record<string, string>;
  zombie: {
    pid: number;
    before: string;
    wrapped: string;
    afterWrapped: string;
    reaped: boolean;
    after: string;
  };
  datagram: { fd: number; wrapped: string; closeWrapped: string; received: string | undefined };
  watch: string;
}

const fixture = fileURLToPath(new URL("../fixtures/shdict/wrapped-arguments.ts", import.meta.url));
const started = new Set<ReturnType<typeof spawn>>();
after(() => {
  for (const child of started) child.kill("SIGKILL");
});

/** Runs the fixture (20 s at most); what it printed. */
function runFixture(): Promise<Report> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["--import", "tsx", fixture], {
      cwd: ROOT,
      stdio: ["ignore", "pipe", "pipe"],
      timeout: 20_000,
      killSignal: "SIGKILL",
    });
    started.add(child);
    let out = "";
    let err = "";
    child.stdout.on("data", (chunk: Buffer) => (out += chunk.toString()));
    child.stderr.on("data", (chunk: Buffer) => (err += chunk.toString()));
    child.on("error", reject);
    child.on("close", (code, signal) => {
      started.delete(child);
      const parts = out
        .trim()
        .split("\n")
        .map((line) => JSON.parse(line) as [string, unknown]);
      if (code === 0) resolve(Object.fromEntries(parts) as unknown as Report);
      else reject(new Error(`the fixture ended with ${code ?? signal}: ${out}${err}`));
    });
  });
}

const INT32_MAX = 2 ** 31 - 1;
const given: readonly (readonly [string, string])[] = [
  ["4294967301", "4294967301"],
  ["-1", "-1"],
  ["1.5", "1.5"],
  ["NaN", "NaN"],
  ["Infinity", "Infinity"],
  ['"5"', "a string"],
  ["undefined", "undefined"],
];

describe("the addon's system calls refuse what is not an integer in range, naming the call and the argument", () => {
  it("2^32 + 5, -1, 1.5, NaN, Infinity, a string and nothing are refused by every call (2^32 + 5 was read as 5, 1.5 as 1, NaN as 0), as is a zone size that is not an integer from 8192 to 2^31 by create and attach (8192.5 made a zone of 8192 bytes), and the zombie and the datagram a wrapped number names are left alone", async () => {
    const report = await runFixture();
    const expected: Record<string, string> = {};
    for (const [written, described] of given) {
      const refused = (call: string, name: string, min: number): string =>
        `threw ${call}: ${name} must be an integer from ${min} to ${INT32_MAX}, not ${described}`;
      expected[`reap(${written})`] = refused("reap", "pid", 2);
      expected[`listen(${written}, 1)`] = refused("listen", "fd", 0);
      expected[`listen(fd, ${written})`] = refused("listen", "backlog", 0);
      expected[`closeOnExecFrom(${written})`] = refused("closeOnExecFrom", "first", 0);
      for (const call of ["datagramReceive", "datagramClose"])
        expected[`${call}(${written})`] =
          written === "-1"
            ? `threw ${call}: descriptor -1 is not a unix datagram socket`
            : refused(call, "fd", -(2 ** 31));
      expected[`attach(${written})`] = refused("attach", "fd", 0);
      expected[`exitWithParent(${written}, 0)`] = refused("exitWithParent", "parentPid", 1);
      expected[`exitWithParent(ppid, ${written})`] = refused("exitWithParent", "graceMs", 0);
    }
    const sizes: readonly (readonly [string, string])[] = [
      ["8192.5", "8192.5"],
      ["1048576.5", "1048576.5"],
      ["-1048576", "-1048576"],
      [String(2 ** 64), "1.8446744073709552e+19"],
      ["NaN", "NaN"],
      ['"1048576"', "a string"],
      ["undefined", "undefined"],
    ];
    for (const [written, described] of sizes) {
      for (const [call, tried] of [
        ["create", `create(${written})`],
        ["attach", `attach(zone, ${written})`],
      ] as const)
        expected[tried] = `threw ${call}: size must be an integer from 8192 to ${2 ** 31}, not ${described}`;
    }
    assert.deepEqual(report.battery, expected);

    const refusedWrapped = (call: string, name: string, min: number, low: number): string =>
      `threw ${call}: ${name} must be an integer from ${min} to ${INT32_MAX}, not ${2 ** 32 + low}`;
    // reap(2^32 + pid) reaped pid: the zombie is still there for reap(pid).
    const { pid } = report.zombie;
    assert.deepEqual(report.zombie, {
      pid,
      before: "Z",
      wrapped: refusedWrapped("reap", "pid", 2, pid),
      afterWrapped: "Z",
      reaped: true,
      after: "gone",
    });
    // datagramReceive(2^32 + fd) read the datagram meant for later; datagramClose closed the socket.
    const { fd } = report.datagram;
    assert.deepEqual(report.datagram, {
      fd,
      wrapped: refusedWrapped("datagramReceive", "fd", -(2 ** 31), fd),
      closeWrapped: refusedWrapped("datagramClose", "fd", -(2 ** 31), fd),
      received: "hello",
    });
    // exitWithParent(2^32 + 5) watched pid 5, not the parent, and SIGKILLed the process at once.
    assert.equal(report.watch, refusedWrapped("exitWithParent", "parentPid", 1, 5));
  });
});
