import { sql } from "drizzle-orm";
import { getEngineOrUnavailable, type Transaction } from "./client";

export interface DbUser {
  id: string;
  /** The session's verified claims; `sub` and `role` are forced to match `id` and `authenticated`. */
  claims?: Record<string, unknown>;
}

/**
 * Runs `fn` in a transaction as the `authenticated` role with the user's JWT claims, exactly as
 * PostgREST does, so row-level security decides what the queries see. Both settings are
 * transaction-local, so nothing leaks onto a pooled connection.
 */
export async function asUser<T>(user: DbUser, fn: (tx: Transaction) => Promise<T>): Promise<T> {
  const claims = JSON.stringify({ ...user.claims, sub: user.id, role: "authenticated" });
  const { db } = await getEngineOrUnavailable();
  return db.transaction(async (tx) => {
    await tx.execute(
      sql`select set_config('role', 'authenticated', true), set_config('request.jwt.claims', ${claims}, true)`,
    );
    return fn(tx);
  });
}
