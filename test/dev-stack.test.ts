import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { decodeJwt } from "jose";
import { afterAll, describe, expect, it } from "vitest";
import { DataDirLockedError, lockDataDir } from "../dev/data-lock";
import { projectRoot } from "../dev/env";
import { startDevServer } from "../dev/server";
import { secrets } from "./support/helpers";

/**
 * The dev stack is safe to use: one process per embedded database (a lock, taken over when its owner
 * died), the error envelope while starting, a clean stop on a signal at any point of start-up, and
 * `npm run token` issuing for the server that is actually running.
 */
const scratch = mkdtempSync(join(tmpdir(), "aat-dev-stack-"));
const children: ChildProcess[] = [];
/** `tsx <file>` runs the script in a child process; `--import tsx` runs it in this one, which gets the signal. */
const tsxScript = (file: string) => [process.execPath, ["--import", "tsx", file]] as const;

afterAll(() => {
  for (const child of children) {
    child.kill("SIGKILL");
  }
  rmSync(scratch, { recursive: true, force: true });
});

/** A process that stays alive until killed: the owner of a lock in another process. */
function otherProcess(): ChildProcess {
  const child = spawn(process.execPath, ["-e", "setInterval(() => {}, 1000)"], { stdio: "ignore" });
  children.push(child);
  return child;
}

function exited(child: ChildProcess): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) {
      resolve({ code: child.exitCode, signal: child.signalCode });
    } else {
      child.once("exit", (code, signal) => resolve({ code, signal }));
    }
  });
}

async function until(what: string, condition: () => boolean, log: () => string): Promise<void> {
  // Generous: a busy machine starts a process slowly; the condition is the signal, not the clock.
  for (let i = 0; i < 1200 && !condition(); i++) {
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  if (!condition()) {
    throw new Error(`timed out waiting for ${what}:\n${log()}`);
  }
}

describe("the data directory lock", () => {
  it("refuses a second owner that is alive, naming it; takes over a lock whose process is gone", async () => {
    const dir = join(scratch, "locked");
    const owner = otherProcess();
    writeFileSync(
      `${dir}.lock`,
      JSON.stringify({ pid: owner.pid, url: "http://127.0.0.1:3999", startedAt: "2026-12-03T10:00:00Z" }),
    );
    let refusal: unknown;
    try {
      lockDataDir(dir);
    } catch (error) {
      refusal = error;
    }
    expect(refusal).toBeInstanceOf(DataDirLockedError);
    expect(String(refusal)).toContain(`pid ${owner.pid}, http://127.0.0.1:3999`);
    expect(String(refusal)).toContain("PGLITE_DATA_DIR");

    owner.kill("SIGKILL");
    await exited(owner);
    const lock = lockDataDir(dir);
    expect(JSON.parse(readFileSync(`${dir}.lock`, "utf8")).pid).toBe(process.pid);
    lock.release();
    expect(existsSync(`${dir}.lock`)).toBe(false);

    // A half-written lock (a crash while writing it) is stale too.
    writeFileSync(`${dir}.lock`, "{");
    lockDataDir(dir).release();
  });

  it("a live pid that is now another process (the owner died, its pid was reused) does not hold the lock", async () => {
    const dir = join(scratch, "reused");
    const stranger = otherProcess();
    writeFileSync(
      `${dir}.lock`,
      JSON.stringify({ pid: stranger.pid, started: "1", startedAt: "2026-12-01T00:00:00Z" }),
    );
    const lock = lockDataDir(dir);
    expect(JSON.parse(readFileSync(`${dir}.lock`, "utf8")).pid).toBe(process.pid);
    lock.release();
  });

  it("of processes racing for one lock, exactly one wins", async () => {
    const dir = join(scratch, "raced");
    const script = `import(${JSON.stringify(join(projectRoot, "dev/data-lock.ts"))}).then((m) => {
      try { m.lockDataDir(${JSON.stringify(dir)}); console.log("won"); } catch (e) { console.log(e.name === "DataDirLockedError" ? "lost" : "error " + e.message); }
      setInterval(() => {}, 1000);
    });`;
    const racers = Array.from({ length: 6 }, () => {
      const child = spawn(process.execPath, ["--import", "tsx", "-e", script], {
        cwd: projectRoot,
        stdio: ["ignore", "pipe", "pipe"],
      });
      children.push(child);
      let said = "";
      child.stdout?.on("data", (chunk) => {
        said += chunk;
      });
      child.stderr?.on("data", (chunk) => {
        said += chunk;
      });
      return { child, said: () => said.trim() };
    });
    // Every racer holds on to what it got until all have answered: a winner never exits early.
    await until(
      "every racer",
      () => racers.every((racer) => racer.said() !== ""),
      () => racers.map((r) => r.said()).join("\n"),
    );
    const outcomes = racers.map((racer) => racer.said()).sort();
    for (const racer of racers) {
      racer.child.kill("SIGKILL");
    }
    expect(outcomes).toEqual(["lost", "lost", "lost", "lost", "lost", "won"]);
  });

  it("a dev server on a directory another live process holds does not start, and leaves nothing open", async () => {
    const dir = join(scratch, "held");
    const owner = otherProcess();
    writeFileSync(`${dir}.lock`, JSON.stringify({ pid: owner.pid, startedAt: new Date().toISOString() }));
    const before = process.env.PGLITE_DATA_DIR;
    const url = process.env.DATABASE_URL;
    // The lock guards the embedded database only.
    delete process.env.DATABASE_URL;
    process.env.PGLITE_DATA_DIR = dir;
    try {
      await expect(startDevServer({ port: 0, secrets, seed: false })).rejects.toBeInstanceOf(
        DataDirLockedError,
      );
    } finally {
      process.env.PGLITE_DATA_DIR = before;
      if (url) {
        process.env.DATABASE_URL = url;
      }
    }
    expect(JSON.parse(readFileSync(`${dir}.lock`, "utf8")).pid).toBe(owner.pid);
  });
});

describe("starting and stopping", () => {
  it("while starting, every request gets the 503 envelope with Retry-After; an abort then closes what was opened", async () => {
    const abort = new AbortController();
    let seen: { status: number; retryAfter: string | null; body: unknown; api: number } | undefined;
    let listening = "";
    await expect(
      startDevServer({
        port: 0,
        secrets,
        seed: false,
        signal: abort.signal,
        onListening: async (url) => {
          listening = url;
          const response = await fetch(`${url}/api/health`);
          const rest = await fetch(`${url}/rest/v1/leads`);
          seen = {
            status: response.status,
            retryAfter: response.headers.get("retry-after"),
            body: await response.json(),
            api: rest.status,
          };
          abort.abort();
        },
      }),
    ).rejects.toThrow(/interrupted/);
    expect(seen?.status, JSON.stringify(seen)).toBe(503);
    expect(seen?.retryAfter).toBe("2");
    expect(seen?.body).toMatchObject({
      success: false,
      error: { code: "service_unavailable", requestId: expect.any(String) },
    });
    expect(seen?.api).toBe(503);
    // The port was closed on the way out.
    await expect(fetch(`${listening}/api/health`)).rejects.toThrow();
  });

  it.each(["SIGTERM", "SIGINT", "SIGHUP"] as const)(
    "npm run dev stops cleanly on %s during start-up and once running, removing its lock and its URL file",
    async (signal) => {
      for (const moment of ["starting", "running"] as const) {
        const data = join(scratch, `${signal}-${moment}`);
        const serverFile = join(scratch, `${signal}-${moment}.json`);
        let output = "";
        const [node, args] = tsxScript("dev/server.ts");
        const child = spawn(node, [...args], {
          cwd: projectRoot,
          // What a developer's shell has: none of this test run's configuration.
          env: {
            PATH: process.env.PATH ?? "",
            HOME: process.env.HOME ?? "",
            TMPDIR: process.env.TMPDIR ?? "/tmp",
            PORT: "0",
            PGLITE_DATA_DIR: data,
            DEV_SERVER_FILE: serverFile,
            LOG_LEVEL: "warn",
          },
          stdio: ["ignore", "pipe", "pipe"],
        });
        children.push(child);
        child.stdout?.on("data", (chunk) => {
          output += chunk;
        });
        child.stderr?.on("data", (chunk) => {
          output += chunk;
        });
        if (moment === "starting") {
          // The lock is taken first: from then on the server is part-way through starting.
          await until(
            "the lock",
            () => existsSync(`${data}.lock`),
            () => output,
          );
        } else {
          await until(
            "the banner",
            () => output.includes("NEXT_PUBLIC_SUPABASE_URL"),
            () => output,
          );
          expect(existsSync(serverFile)).toBe(true);
        }
        child.kill(signal);
        const { code } = await exited(child);
        expect(code, `${moment}: ${output}`).toBe(0);
        expect(existsSync(`${data}.lock`), output).toBe(false);
        expect(existsSync(serverFile), output).toBe(false);
      }
    },
    240_000,
  );
});

describe("npm run token", () => {
  const token = (env: Record<string, string>) =>
    new Promise<{ token: string; note: string }>((resolve, reject) => {
      const [node, args] = tsxScript("dev/token.ts");
      const child = spawn(node, [...args, "5f0c1a7e-2b9d-4c61-9a53-7d2e8b4f6c10"], {
        cwd: projectRoot,
        env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "", ...env },
        stdio: ["ignore", "pipe", "pipe"],
      });
      children.push(child);
      let out = "";
      let err = "";
      child.stdout?.on("data", (chunk) => {
        out += chunk;
      });
      child.stderr?.on("data", (chunk) => {
        err += chunk;
      });
      child.once("exit", (code) =>
        code === 0 ? resolve({ token: out.trim(), note: err }) : reject(new Error(`${code}: ${err}`)),
      );
    });

  it("issues for the running dev server's URL, or says which it assumed", async () => {
    const file = join(scratch, "running.json");
    writeFileSync(file, JSON.stringify({ pid: process.pid, url: "http://127.0.0.1:4567" }));
    const running = await token({ DEV_SERVER_FILE: file });
    expect(decodeJwt(running.token).iss).toBe("http://127.0.0.1:4567/auth/v1");
    expect(running.note).toContain("the running dev server");

    const dead = otherProcess();
    dead.kill("SIGKILL");
    await exited(dead);
    writeFileSync(file, JSON.stringify({ pid: dead.pid, url: "http://127.0.0.1:4567" }));
    const assumed = await token({ DEV_SERVER_FILE: file, PORT: "3005" });
    expect(decodeJwt(assumed.token).iss).toBe("http://127.0.0.1:3005/auth/v1");
    expect(assumed.note).toContain("assumed");
  });
});
