import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { sql } from "drizzle-orm";
import { rowsOf, type SqlEngine } from "../../lib/db/client";

const root = join(import.meta.dirname, "..", "..");
export const migrationsDir = join(root, "supabase", "migrations");

export interface MigrationFile {
  version: string;
  name: string;
  path: string;
}

export function listMigrations(): MigrationFile[] {
  return readdirSync(migrationsDir)
    .filter((file) => /^\d{14}_[a-z0-9_]+\.sql$/.test(file))
    .sort()
    .map((file) => {
      const [version = "", ...rest] = file.replace(/\.sql$/, "").split("_");
      return { version, name: rest.join("_"), path: join(migrationsDir, file) };
    });
}

/**
 * Local stand-in for `supabase db push`: the Supabase bootstrap (roles, auth schema, publication),
 * then every migration not yet recorded in supabase_migrations.schema_migrations, each in its own
 * transaction. Returns the versions applied.
 */
export async function applyMigrations(
  engine: SqlEngine,
  options: { seed?: boolean } = {},
): Promise<string[]> {
  await engine.exec(readFileSync(join(import.meta.dirname, "bootstrap.sql"), "utf8"));
  const done = await engine.db.execute(sql`select version from supabase_migrations.schema_migrations`);
  const applied = new Set(rowsOf<{ version: string }>(done).map((row) => row.version));
  const ran: string[] = [];
  for (const migration of listMigrations()) {
    if (applied.has(migration.version)) {
      continue;
    }
    const body = readFileSync(migration.path, "utf8");
    const escapedName = migration.name.replace(/'/g, "''");
    await engine.exec(
      `${body}\n;insert into supabase_migrations.schema_migrations (version, name) values ('${migration.version}', '${escapedName}');`,
      { transaction: true },
    );
    ran.push(migration.version);
  }
  if (options.seed && ran.length > 0) {
    await engine.exec(readFileSync(join(root, "supabase", "seed.sql"), "utf8"));
  }
  return ran;
}
