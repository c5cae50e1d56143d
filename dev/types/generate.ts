import { execFileSync } from "node:child_process";
import { join } from "node:path";
import type { SqlEngine } from "../../lib/db/client";
import { applyMigrations } from "../db/migrate";
import { openPglite } from "../db/pglite";
import { engineQuery, readCatalog } from "./catalog";
import { renderTypes } from "./render";

const root = join(import.meta.dirname, "..", "..");
/** Where the types live, relative to the repository (Biome's override for it is keyed on this). */
export const typesPath = "supabase/database.types.ts";
export const typesFile = join(root, typesPath);

/**
 * The layout is Biome's, with the override biome.json gives this file (80 columns, no semicolons:
 * Prettier's defaults with `semi: false`, as the CLI formats it), so `biome check` accepts the file
 * as written and the output stays close to the CLI's byte for byte.
 */
export function formatTypes(source: string): string {
  return execFileSync(
    join(root, "node_modules", ".bin", "biome"),
    ["format", `--stdin-file-path=${typesPath}`],
    {
      cwd: root,
      input: source,
      encoding: "utf8",
      maxBuffer: 64 * 1024 * 1024,
    },
  );
}

/** The `Database` types of a migrated database's `public` schema. */
export async function typesOf(engine: SqlEngine, schemas: string[] = ["public"]): Promise<string> {
  return formatTypes(renderTypes(await readCatalog(engineQuery(engine), schemas)));
}

/** The types the migrations give: applied to a fresh in-memory PGlite, nothing left behind. */
export async function generateTypes(): Promise<string> {
  const engine = await openPglite("memory://");
  try {
    await applyMigrations(engine);
    return await typesOf(engine);
  } finally {
    await engine.close();
  }
}
