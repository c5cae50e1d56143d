import type { ExtractTablesWithRelations } from "drizzle-orm";
import type { PgDatabase, PgQueryResultHKT, PgTransaction } from "drizzle-orm/pg-core";
import { getConfig } from "../config";
import { ApiError } from "../http/errors";
import type * as schema from "./schema";

type Schema = typeof schema;
export type Database = PgDatabase<PgQueryResultHKT, Schema>;
export type Transaction = PgTransaction<PgQueryResultHKT, Schema, ExtractTablesWithRelations<Schema>>;

/** A connected database: the query builder plus raw script execution (for migrations and tests). */
export interface SqlEngine {
  driver: "postgres" | "pglite";
  db: Database;
  /** Runs a multi-statement SQL script, in one transaction when asked. */
  exec(script: string, options?: { transaction?: boolean }): Promise<void>;
  close(): Promise<void>;
  /** LISTEN on a channel (a dedicated connection with postgres.js); resolves to the unlisten. */
  listen(channel: string, onMessage: (payload: string) => void): Promise<() => Promise<void>>;
}

let engine: Promise<SqlEngine> | undefined;
let embeddedFactory: (() => Promise<SqlEngine>) | undefined;

/**
 * Lets the local stack (dev server, tests, bench) supply the embedded database used when
 * `DATABASE_URL` is unset. Production code never references an embedded engine, so none is traced
 * into a function's bundle.
 */
export function useEmbeddedDatabase(factory: () => Promise<SqlEngine>): void {
  embeddedFactory = factory;
  engine = undefined;
}

/** postgres.js engine; `max` defaults to DATABASE_POOL_MAX. */
export async function connectPostgres(url: string, max?: number): Promise<SqlEngine> {
  const [{ default: postgres }, { drizzle }, schemaModule] = await Promise.all([
    import("postgres"),
    import("drizzle-orm/postgres-js"),
    import("./schema"),
  ]);
  // Supabase's transaction pooler (port 6543) cannot keep prepared statements between transactions.
  const client = postgres(url, {
    prepare: false,
    max: max ?? getConfig().DATABASE_POOL_MAX,
    idle_timeout: 20,
    connect_timeout: 10,
    onnotice: () => {},
    connection: { TimeZone: "UTC", application_name: "ai-agent-team" },
  });
  const db = drizzle({ client, schema: schemaModule }) as unknown as Database;
  return {
    driver: "postgres",
    db,
    exec: async (script, options) => {
      if (options?.transaction) {
        await client.begin((tx) => tx.unsafe(script).simple());
      } else {
        await client.unsafe(script).simple();
      }
    },
    close: () => client.end({ timeout: 5 }),
    listen: async (channel, onMessage) => {
      const { unlisten } = await client.listen(channel, onMessage);
      return unlisten;
    },
  };
}

/** The process's database, connected on first use. */
export function getEngine(): Promise<SqlEngine> {
  if (!engine) {
    const url = getConfig().DATABASE_URL;
    if (url) {
      engine = connectPostgres(url);
    } else if (embeddedFactory) {
      engine = embeddedFactory();
    } else {
      return Promise.reject(
        new Error(
          "DATABASE_URL is not set and no embedded database is running (start the backend with `npm run dev`)",
        ),
      );
    }
    engine.catch(() => {
      engine = undefined;
    });
  }
  return engine;
}

/** The engine, or a 503 with Retry-After when it cannot be reached. */
export async function getEngineOrUnavailable(): Promise<SqlEngine> {
  try {
    return await getEngine();
  } catch (error) {
    throw new ApiError("service_unavailable", "The database is unavailable", {
      cause: error,
      headers: { "retry-after": "5" },
    });
  }
}

export async function closeDatabase(): Promise<void> {
  const current = engine;
  engine = undefined;
  if (current) {
    await (await current).close();
  }
}

/** `db.execute` returns an array with postgres.js and `{ rows }` with PGlite. */
export function rowsOf<T>(result: unknown): T[] {
  if (Array.isArray(result)) {
    return result as T[];
  }
  return ((result as { rows?: T[] }).rows ?? []) as T[];
}
