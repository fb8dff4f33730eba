/**
 * How long this machine takes to move one cache line from one core to the other, measured as a
 * bench runs: two threads pass a token back and forth through one shared word, each spinning on
 * it, and half a round trip is one transfer.
 *
 * Why a bench prints it: work that two processes share — a shard's lock, the LRU head, the
 * allocator's state — scales only as far as these transfers allow, and on this VM they are not
 * one figure: the same two vCPUs measured 65 ns and 270 ns minutes apart within one bench run
 * (the host places them). A write that takes its shard's lock finds the lock's line at the other
 * core about half the time, so at ~250 ns no locked write from two processes can reach 1.5× one.
 * With the figure beside the table, a reader can tell the code from the machine.
 */
import { Worker } from "node:worker_threads";

/** The other thread: answers each token (1) with 2, until told to stop (3). */
const ECHO = `
const { workerData } = require("node:worker_threads");
const word = new Int32Array(workerData);
Atomics.store(word, 1, 1);
for (;;) {
  let v;
  while ((v = Atomics.load(word, 0)) === 0 || v === 2);
  if (v === 3) break;
  Atomics.store(word, 0, 2);
}
`;

/** One-way cache-line transfer between two cores, in nanoseconds: the median of `tries` tries. */
export async function lineTransferNs(tries = 3, rounds = 100_000): Promise<number> {
  const results: number[] = [];
  for (let t = 0; t < tries; t++) {
    const shared = new SharedArrayBuffer(64);
    const word = new Int32Array(shared);
    const echo = new Worker(ECHO, { eval: true, workerData: shared });
    try {
      const deadline = performance.now() + 5000;
      while (Atomics.load(word, 1) === 0) {
        if (performance.now() > deadline) throw new Error("line transfer: the echo thread did not start");
        await new Promise((resolve) => setTimeout(resolve, 1));
      }
      const started = performance.now();
      let done = 0;
      // (bounded in time too: on one core each round trip waits for the scheduler)
      while (done < rounds && (done % 1024 !== 0 || performance.now() - started < 2000)) {
        Atomics.store(word, 0, 1);
        while (Atomics.load(word, 0) !== 2);
        done++;
      }
      results.push(((performance.now() - started) * 1e6) / done / 2);
      Atomics.store(word, 0, 3);
    } finally {
      await echo.terminate();
    }
  }
  return results.sort((a, b) => a - b)[Math.floor(results.length / 2)] ?? Number.NaN;
}
