import { applyMigrations } from "./db/migrate";
import { openPglite } from "./db/pglite";
import { connectPostgres } from "../lib/db/client";
const which = process.argv[2];
const engine = which === "pg" ? await connectPostgres(process.env.URL!, 1) : await openPglite("memory://");
console.log(await applyMigrations(engine, { seed: true }));
await engine.close();
