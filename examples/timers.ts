// A tour of ngx.timer in single mode: `./bin/tsresty examples/timers.ts`
// (SPEC scenarios 1-3: the counts, a zero-delay background job, a periodic job written both ways).

// 3. The counts. Scheduling a 3 s timer makes one pending timer.
ngx.timer.at(3, () => undefined);
console.log(`pending after scheduling a 3 s timer: ${ngx.timer.pendingCount()}`);
// As in `resty`, the main chunk itself runs as a timer, so a sleeping timer makes two running.
ngx.timer.at(0, async () => {
  await ngx.sleep(0.2);
});
await ngx.sleep(0.05);
console.log(`running while a timer sleeps (plus the main chunk): ${ngx.timer.runningCount()}`);

// 1. Background work that starts at once, after the creating code is done.
ngx.timer.at(0, (premature) => {
  console.log(`background job started (premature: ${premature})`);
});

// 2a. A periodic job as a self-re-arming `at`: check premature first, then re-arm.
let polls = 0;
const poll = (premature: boolean): void => {
  if (premature) return; // the process is exiting: do not re-arm
  polls++;
  ngx.timer.at(0.1, poll);
};
ngx.timer.at(0.1, poll);

// 2b. The same with `every`, on a fixed grid, named for the logs, stopped with its handle.
let ticks = 0;
const heartbeat = ngx.timer.every({ interval: 0.1, name: "heartbeat" }, () => {
  ticks++;
});

await ngx.sleep(0.55);
heartbeat.cancel();
console.log(`after 0.55 s: ${polls} polls, ${ticks} heartbeat ticks`);
// Returning ends the main chunk: the 3 s timer fires now with premature = true, and the process exits.
