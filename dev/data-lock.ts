import { closeSync, mkdirSync, openSync, readFileSync, rmSync, writeSync } from "node:fs";
import { dirname } from "node:path";

/**
 * One dev server per embedded database: PGlite is a single-process engine, and a second process on
 * the same directory loses writes and corrupts indexes. The lock is a file created exclusively beside
 * the data directory, holding the owner's pid and URL; a lock whose process is gone (a crash, a
 * `kill -9`) is stale and taken over.
 */
export interface LockOwner {
  pid: number;
  url?: string;
  startedAt: string;
}

export class DataDirLockedError extends Error {
  constructor(
    readonly dir: string,
    readonly owner: LockOwner,
  ) {
    super(
      `${dir} is in use by another dev server (pid ${owner.pid}${owner.url ? `, ${owner.url}` : ""}, since ${owner.startedAt}). ` +
        "Stop it first, or give this one its own database (PGLITE_DATA_DIR=… or DATABASE_URL=…).",
    );
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: the process exists but is someone else's.
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

export function readLock(file: string): LockOwner | undefined {
  try {
    return JSON.parse(readFileSync(file, "utf8")) as LockOwner;
  } catch {
    return undefined;
  }
}

/** Takes the lock for `dir`; answers a release that also records the URL once it is known. */
export function lockDataDir(dir: string): { file: string; setUrl(url: string): void; release(): void } {
  const file = `${dir.replace(/\/+$/, "")}.lock`;
  const owner: LockOwner = { pid: process.pid, startedAt: new Date().toISOString() };
  mkdirSync(dirname(file), { recursive: true });
  let taken = false;
  for (let attempt = 0; attempt < 3 && !taken; attempt++) {
    try {
      const fd = openSync(file, "wx", 0o600);
      writeSync(fd, JSON.stringify(owner));
      closeSync(fd);
      taken = true;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST") {
        throw error;
      }
      const holder = readLock(file);
      if (holder && holder.pid !== process.pid && alive(holder.pid)) {
        throw new DataDirLockedError(dir, holder);
      }
      // Stale (its process is gone), half-written, or this process's own: take it over.
      rmSync(file, { force: true });
    }
  }
  if (!taken) {
    throw new Error(`could not take the lock ${file}`);
  }
  return {
    file,
    setUrl(url) {
      owner.url = url;
      const fd = openSync(file, "w", 0o600);
      writeSync(fd, JSON.stringify(owner));
      closeSync(fd);
    },
    release() {
      if (readLock(file)?.pid === process.pid) {
        rmSync(file, { force: true });
      }
    },
  };
}
