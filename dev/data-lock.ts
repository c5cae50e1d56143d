import { randomUUID } from "node:crypto";
import { linkSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";

/**
 * One dev server per embedded database: PGlite is a single-process engine, and a second process on
 * the same directory loses writes and corrupts indexes. The lock is a file beside the data directory
 * holding the owner's pid, start time and URL. It appears whole (written aside, then hard-linked into
 * place, which fails if it exists), so no reader ever sees it half-written; a lock whose process is
 * gone (a crash, a `kill -9`, a reused pid) is stale and taken over.
 */
export interface LockOwner {
  pid: number;
  /** The process's start time in clock ticks since boot (Linux), so a reused pid is not taken for it. */
  started?: string;
  url?: string;
  startedAt: string;
}

export class DataDirLockedError extends Error {
  override name = "DataDirLockedError";

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

/** Field 22 of /proc/<pid>/stat; undefined where /proc is not there. */
function startTicks(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // The command name (field 2) may hold spaces and parentheses: count from the last ')'.
    return stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19];
  } catch {
    return undefined;
  }
}

function alive(owner: LockOwner): boolean {
  try {
    process.kill(owner.pid, 0);
  } catch (error) {
    // EPERM: the process exists but is someone else's.
    if ((error as NodeJS.ErrnoException).code !== "EPERM") {
      return false;
    }
  }
  const now = startTicks(owner.pid);
  return !owner.started || !now || owner.started === now;
}

export function readLock(file: string): LockOwner | undefined {
  try {
    return JSON.parse(readFileSync(file, "utf8")) as LockOwner;
  } catch {
    return undefined;
  }
}

/** Writes `owner` to `file` atomically (aside, then renamed over it). */
function writeWhole(file: string, owner: LockOwner): void {
  const aside = `${file}.${process.pid}.${randomUUID()}.tmp`;
  writeFileSync(aside, JSON.stringify(owner), { mode: 0o600 });
  renameSync(aside, file);
}

/** Takes the lock for `dir`; answers a release, and a way to record the URL once it is known. */
export function lockDataDir(dir: string): { file: string; setUrl(url: string): void; release(): void } {
  const file = `${dir.replace(/\/+$/, "")}.lock`;
  const started = startTicks(process.pid);
  const owner: LockOwner = {
    pid: process.pid,
    ...(started ? { started } : {}),
    startedAt: new Date().toISOString(),
  };
  mkdirSync(dirname(file), { recursive: true });
  const aside = `${file}.${process.pid}.${randomUUID()}.tmp`;
  writeFileSync(aside, JSON.stringify(owner), { mode: 0o600 });
  let taken = false;
  try {
    for (let attempt = 0; attempt < 5 && !taken; attempt++) {
      try {
        linkSync(aside, file);
        taken = true;
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== "EEXIST") {
          throw error;
        }
        let seen: string;
        try {
          seen = readFileSync(file, "utf8");
        } catch {
          continue; // released meanwhile
        }
        const holder = readLock(file);
        if (holder && holder.pid !== process.pid && alive(holder)) {
          throw new DataDirLockedError(dir, holder);
        }
        // Stale: move it aside under a name of our own, and remove it only if it is still the one we
        // judged; a fresh lock another process made meanwhile is put back.
        const grave = `${file}.${process.pid}.${randomUUID()}.stale`;
        try {
          renameSync(file, grave);
        } catch {
          continue;
        }
        if (readFileSync(grave, "utf8") !== seen) {
          try {
            linkSync(grave, file);
          } catch {
            // Someone holds it already; the next attempt reads who.
          }
        }
        rmSync(grave, { force: true });
      }
    }
  } finally {
    rmSync(aside, { force: true });
  }
  if (!taken) {
    throw new Error(`could not take the lock ${file}`);
  }
  return {
    file,
    setUrl(url) {
      owner.url = url;
      writeWhole(file, owner);
    },
    release() {
      if (readLock(file)?.pid === process.pid) {
        rmSync(file, { force: true });
      }
    },
  };
}
