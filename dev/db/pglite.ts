import { mkdirSync } from "node:fs";
import { PGlite } from "@electric-sql/pglite";
import { pgcrypto } from "@electric-sql/pglite/contrib/pgcrypto";
import { drizzle } from "drizzle-orm/pglite";
import type { Database, SqlEngine } from "../../lib/db/client";
import * as schema from "../../lib/db/schema";

/** The embedded database: PGlite (real PostgreSQL compiled to WebAssembly) with pgcrypto, on disk. */
export async function openPglite(dataDir: string): Promise<SqlEngine> {
  if (!dataDir.startsWith("memory://")) {
    mkdirSync(dataDir, { recursive: true });
  }
  const client = await PGlite.create(dataDir, { extensions: { pgcrypto } });
  await client.exec("set timezone to 'UTC'");
  const db = drizzle({ client, schema }) as unknown as Database;
  return {
    driver: "pglite",
    db,
    exec: async (script, options) => {
      if (options?.transaction) {
        await client.transaction((tx) => tx.exec(script));
      } else {
        await client.exec(script);
      }
    },
    close: () => client.close(),
    listen: (channel, onMessage) => client.listen(channel, onMessage),
  };
}
