import { closeDatabase, getEngine } from "../lib/db/client";
import { applyMigrations } from "./db/migrate";
import { applyDevEnv, loadDevSecrets } from "./env";
import { useLocalEngines } from "./stack";

// npm run db:migrate [-- --seed]: applies supabase/migrations to DATABASE_URL, or to the local PGlite.
const secrets = await loadDevSecrets();
applyDevEnv(secrets, `http://127.0.0.1:${process.env.PORT ?? 3001}`);
const closeEngines = await useLocalEngines();
const applied = await applyMigrations(await getEngine(), { seed: process.argv.includes("--seed") });
console.log(applied.length ? `applied ${applied.join(", ")}` : "already up to date");
await closeDatabase();
await closeEngines();
