import { randomBytes } from "node:crypto";
import postgres from "postgres";

/**
 * A benchmark never writes into a database it did not create. With DATABASE_URL, the bench makes a
 * database of its own on that server and drops it afterwards; where it may not create one (no
 * CREATEDB, a pooler), it uses the named database only if that has no tables, and refuses otherwise.
 * Without DATABASE_URL every section uses embedded databases it makes in a temporary directory.
 */
export interface BenchDatabase {
  /** The URL the bench runs against, or undefined for the embedded engine. */
  url: string | undefined;
  /** Whether the bench made it (and drops it in `drop`). */
  created: boolean;
  drop(): Promise<void>;
}

export class ForeignDatabaseError extends Error {
  override name = "ForeignDatabaseError";
}

export async function benchDatabase(serverUrl: string | undefined): Promise<BenchDatabase> {
  if (!serverUrl) {
    return { url: undefined, created: false, drop: async () => {} };
  }
  const admin = postgres(serverUrl, { max: 1, onnotice: () => {}, connect_timeout: 10 });
  const name = `aat_bench_${randomBytes(6).toString("hex")}`;
  try {
    await admin.unsafe(`create database ${name}`);
  } catch (error) {
    try {
      const [row] = await admin<{ tables: number }[]>`
        select count(*)::int as tables from pg_catalog.pg_tables
        where schemaname not in ('pg_catalog', 'information_schema')`;
      if ((row?.tables ?? 0) > 0) {
        throw new ForeignDatabaseError(
          `the bench may not create a database on this server (${(error as Error).message}) and the one DATABASE_URL names has ${row?.tables} tables: refusing to write into it. Point DATABASE_URL at an empty database, or at a server where this role may create one.`,
        );
      }
      return { url: serverUrl, created: false, drop: async () => {} };
    } finally {
      await admin.end();
    }
  }
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    created: true,
    async drop() {
      await admin.unsafe(`drop database if exists ${name} with (force)`);
      await admin.end();
    },
  };
}
