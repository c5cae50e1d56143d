/**
 * Keeps every core busy, to prove the test suite does not depend on the machine's speed: one
 * child process per core (or per the count given as the first argument) spinning in a busy loop,
 * until this process gets SIGINT/SIGTERM or its parent goes away. A plain Node script so that it needs
 * nothing installed (no stress-ng): `node dev/saturate.mts [count]` (Node 24 strips the types).
 *
 * The children are separate processes, not worker threads, so the kernel schedules them like any
 * other CPU-bound work on a busy CI machine. Each checks once a second whether its parent is still
 * alive, so a SIGKILLed saturator leaves no spinning orphans behind.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { availableParallelism } from "node:os";

const count = Number(process.argv[2] ?? availableParallelism());
if (!Number.isInteger(count) || count < 1) {
  console.error(`saturate: expected a positive core count, got ${process.argv[2]}`);
  process.exit(2);
}

// Spins for a second at a time, then checks that the saturator still runs (kill(pid, 0) throws once
// it is gone). The marker `for(;;)` lets `ps aux | grep 'for(;;)'` find them.
const spinner = `const parent = ${process.pid};
for(;;){ const until = Date.now() + 1000; while (Date.now() < until) {} try { process.kill(parent, 0); } catch { process.exit(0); } }`;

const children: ChildProcess[] = [];
for (let i = 0; i < count; i++) {
  children.push(spawn(process.execPath, ["-e", spinner], { stdio: "ignore" }));
}
console.log(`saturate: ${count} busy loop(s) running (pids ${children.map((child) => child.pid).join(" ")})`);

const stop = (signal: NodeJS.Signals) => {
  for (const child of children) {
    child.kill("SIGKILL");
  }
  console.log(`saturate: stopped ${count} busy loop(s) on ${signal}`);
  process.exit(0);
};
process.on("SIGINT", stop);
process.on("SIGTERM", stop);
process.on("SIGHUP", stop);
// Keeps the event loop alive until a signal arrives.
setInterval(() => {}, 60_000);
