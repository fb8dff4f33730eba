/**
 * `npm run soak -- [SECONDS] [SEED]`: a live tree under an operator's worst habits. Not a test (it
 * runs as long as asked, its actions are random) and not part of CI: a probe to run after a
 * change to the process tree, the timers or the HTTP path.
 *
 * One `tsresty start` (the compiled dist/, 2 workers, the privileged agent, a zone) serves an app
 * with a host singleton every 0.2 s that appends each run's tick to a file outside the processes,
 * plain timers, a pipe child every 0.3 s, `init` and `exitWorker`. Four clients keep requests
 * going (a fifth of them held 300 ms by the app). Every 0.2–1.4 s one action, chosen by SEED:
 * reload, SIGKILL of a worker or of the agent, SIGTERM of a worker, HUP twice, USR1, or a reload
 * followed by a SIGKILL of a new worker. At the end: QUIT.
 *
 * It fails (exit 1) when the master dies, a request hangs (5 s) or gets anything but 200, a
 * singleton tick ran twice, the slots are not filled again within 20 s, the stop does not exit 0,
 * or a process of the tree is left (found by an environment mark every child inherits). A
 * connection reset is counted, not failed: a killed worker's own connections end that way, as
 * nginx's do.
 */
import { execFile, spawn } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { get } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";

const BIN = fileURLToPath(new URL("../bin/tsresty", import.meta.url));
const seconds = Number(process.argv[2] ?? 60);
let seed = Number(process.argv[3] ?? Date.now() % 100_000);
const firstSeed = seed;
/** The same sequence of actions for the same SEED (a linear congruential generator). */
const random = (): number => (seed = (seed * 1_103_515_245 + 12_345) % 2_147_483_648) / 2_147_483_648;
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
const say = (...words: unknown[]): void => {
  process.stdout.write(`${new Date().toISOString().slice(11, 23)} ${words.join(" ")}\n`);
};

const APP = `import { appendFileSync } from "node:fs";
export default {
  init() { ngx.shared.soak.set("boot", Date.now()); return { at: Date.now() }; },
  initWorker() {
    ngx.timer.every(0.05, () => { ngx.shared.soak.incr("ticks", 1, 0); });
    ngx.timer.every({ interval: 0.2, name: "soak", singleton: "host" }, (premature) => {
      if (!premature) appendFileSync(process.env.SOAK_RUNS, ngx.timer.current().due + " " + process.pid + "\\n");
    });
    if (ngx.worker.id() === 0) {
      ngx.timer.every(0.3, async (premature) => {
        if (!premature) await ngx.pipe.spawn(["sleep", "0.2"]).wait();
      });
    }
  },
  exitWorker: () => new Promise((resolve) => setTimeout(resolve, 20)),
  handler(req, res) {
    if (req.url === "/slow") setTimeout(() => res.end("slow\\n"), 300);
    else res.end("ok\\n");
  },
};
`;

const dir = mkdtempSync(join(tmpdir(), "tsresty-soak-"));
const prefix = join(dir, "prefix");
const runs = join(dir, "runs.txt");
writeFileSync(join(dir, "app.mjs"), APP);
writeFileSync(
  join(dir, "config.mjs"),
  `export default { workers: 2, shdict: { soak: "1m" }, privilegedAgent: {} };\n`,
);
writeFileSync(runs, "");
const mark = `TSRESTY_SOAK_${process.pid}`;
const master = spawn(
  BIN,
  [
    "start",
    join(dir, "app.mjs"),
    "--config",
    join(dir, "config.mjs"),
    "--prefix",
    prefix,
    "--listen",
    "127.0.0.1:0",
  ],
  { env: { ...process.env, [mark]: "1", SOAK_RUNS: runs }, stdio: ["ignore", "pipe", "pipe"] },
);
let output = "";
master.stdout.on("data", (chunk: Buffer) => (output += chunk.toString()));
master.stderr.on("data", (chunk: Buffer) => (output += chunk.toString()));
const problems: string[] = [];
const problem = (text: string): void => {
  problems.push(text);
  say("PROBLEM", text);
};

interface Row {
  readonly type: string;
  readonly pid: number | null;
  readonly state: string;
}
/**
 * The CLI runs asynchronously: a synchronous call blocked this process's event loop while a
 * reload under load took seconds, and the clients' 5 s timeouts then fired before the responses
 * that had arrived meanwhile were read (requests counted as hung that were not).
 */
const run = promisify(execFile);
async function rows(): Promise<Row[]> {
  try {
    const { stdout } = await run(BIN, ["status", "--json", "--prefix", prefix], { timeout: 10_000 });
    return (JSON.parse(stdout) as { processes: Row[] }).processes;
  } catch {
    return [];
  }
}
const live = async (type: string): Promise<Row[]> =>
  (await rows()).filter((row) => row.type === type && row.pid !== null);
async function control(command: string): Promise<void> {
  try {
    await run(BIN, [command, "--prefix", prefix], { timeout: 30_000 });
  } catch {
    // A reload refused while another runs is an outcome, not a problem.
  }
}
function kill(pid: number | null | undefined, signal: NodeJS.Signals): void {
  if (pid === null || pid === undefined) return;
  try {
    process.kill(pid, signal);
  } catch {
    // Already gone.
  }
}
async function until(check: () => boolean | Promise<boolean>, ms: number, what: string): Promise<void> {
  for (const end = Date.now() + ms; Date.now() < end;) {
    if (await check()) return;
    await sleep(100);
  }
  problem(`not within ${ms} ms: ${what}`);
}
/** Processes carrying the mark: the tree and anything it started. */
function marked(): number[] {
  return readdirSync("/proc")
    .filter((name) => /^\d+$/.test(name))
    .filter((pid) => {
      try {
        return readFileSync(`/proc/${pid}/environ`, "latin1").includes(`${mark}=1`);
      } catch {
        return false;
      }
    })
    .map(Number);
}

await until(() => /tsresty ready/.test(output), 20_000, "the ready line");
const port = Number(/listening on 127\.0\.0\.1:(\d+)/.exec(output)?.[1]);
say(`tree ready on port ${port}; seed ${firstSeed}; ${seconds} s of actions`);

const outcomes = new Map<string, number>();
function request(path: string): Promise<string> {
  return new Promise((resolve) => {
    const req = get({ host: "127.0.0.1", port, path, timeout: 5_000, agent: false }, (res) => {
      res.resume();
      res.on("end", () => {
        resolve(res.statusCode === 200 ? "ok" : `status ${res.statusCode ?? "?"}`);
      });
      res.on("error", (error: NodeJS.ErrnoException) => {
        resolve(`response ${error.code ?? error.message}`);
      });
    });
    req.on("timeout", () => {
      req.destroy();
      resolve("hung");
    });
    req.on("error", (error: NodeJS.ErrnoException) => {
      resolve(error.code ?? error.message);
    });
  });
}
let loading = true;
const clients = Array.from({ length: 4 }, async () => {
  while (loading) {
    const path = random() < 0.2 ? "/slow" : "/";
    const outcome = await request(path);
    outcomes.set(outcome, (outcomes.get(outcome) ?? 0) + 1);
    if (outcome !== "ok") say(`  ${path}: ${outcome}`);
  }
});

const actions: [number, string, () => Promise<void> | void][] = [
  [0.25, "reload", () => control("reload")],
  [
    0.25,
    "SIGKILL a worker",
    async () => {
      kill((await live("worker"))[Math.floor(random() * 2)]?.pid, "SIGKILL");
    },
  ],
  [
    0.1,
    "SIGKILL the agent",
    async () => {
      kill((await live("privileged agent"))[0]?.pid, "SIGKILL");
    },
  ],
  [
    0.1,
    "HUP twice",
    async () => {
      master.kill("SIGHUP");
      await sleep(random() * 50);
      master.kill("SIGHUP");
    },
  ],
  [0.1, "USR1", () => void master.kill("SIGUSR1")],
  [
    0.1,
    "SIGTERM a worker",
    async () => {
      kill((await live("worker"))[0]?.pid, "SIGTERM");
    },
  ],
  [
    0.1,
    "reload, then SIGKILL a new worker",
    async () => {
      await control("reload");
      await sleep(random() * 300);
      kill((await live("worker")).at(-1)?.pid, "SIGKILL");
    },
  ],
];
let taken = 0;
for (const end = Date.now() + seconds * 1000; Date.now() < end && master.exitCode === null; taken++) {
  let pick = random();
  const chosen = actions.find(([weight]) => (pick -= weight) < 0) ?? actions[0];
  if (chosen === undefined) break;
  const [, name, act] = chosen;
  say(name);
  await act();
  await sleep(200 + random() * 1200);
}
if (master.exitCode !== null) problem(`the master exited (${String(master.exitCode)})`);
await until(
  async () => (await live("worker")).filter((row) => row.state === "running").length === 2,
  20_000,
  "2 workers running",
);
loading = false;
await Promise.all(clients);

const stopped = Date.now();
master.kill("SIGQUIT");
await until(
  () => master.exitCode !== null || master.signalCode !== null,
  30_000,
  "the master's exit after QUIT",
);
if (master.exitCode !== 0) problem(`the stop ended with ${String(master.exitCode ?? master.signalCode)}`);
await sleep(500);
const left = marked();
if (left.length > 0) problem(`processes left: ${left.join(", ")}`);
for (const pid of left) kill(pid, "SIGKILL");

const ticks = readFileSync(runs, "utf8").split("\n").filter(Boolean);
const owners = new Map<string, string>();
for (const line of ticks) {
  const [due = "", pid = ""] = line.split(" ");
  const earlier = owners.get(due);
  if (earlier !== undefined) problem(`tick ${due} ran twice: ${earlier} and ${pid}`);
  owners.set(due, pid);
}
for (const [outcome, count] of outcomes) {
  if (outcome !== "ok" && outcome !== "ECONNRESET") problem(`${count} requests: ${outcome}`);
}
const summary = [
  `${taken} actions`,
  `requests ${JSON.stringify(Object.fromEntries(outcomes))}`,
  `${ticks.length} singleton runs`,
  `stop ${Date.now() - stopped} ms`,
];
say(summary.join("; "));
if (problems.length === 0) {
  rmSync(dir, { recursive: true, force: true });
  say("PASS");
} else {
  writeFileSync(join(dir, "output.txt"), output);
  say(`FAIL: ${problems.length} problems; the tree's output is in ${join(dir, "output.txt")}`);
  process.exitCode = 1;
}
