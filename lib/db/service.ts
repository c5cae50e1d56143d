/**
 * The service-role path: bypasses row-level security. Import it only where the backend acts for
 * itself (workers, webhooks, crons), never to answer a user's read; those go through `asUser`.
 */
import { sql } from "drizzle-orm";
import { type Database, getEngineOrUnavailable, type Transaction } from "./client";

export async function serviceDb(): Promise<Database> {
  return (await getEngineOrUnavailable()).db;
}

export async function asService<T>(fn: (tx: Transaction) => Promise<T>): Promise<T> {
  const db = await serviceDb();
  return db.transaction(fn);
}

/** Round trip for health checks. */
export async function pingDatabase(): Promise<void> {
  const db = await serviceDb();
  await db.execute(sql`select 1`);
}
