import { sql } from "drizzle-orm";
import { importJWK, jwtVerify } from "jose";
import { getEngine, type Transaction } from "../../lib/db/client";
import type { AuthKeys } from "../auth";

/**
 * Who a request to the local Supabase surface comes from, as Supabase's gateway and PostgREST see it:
 * the role the database runs the request as, and the JWT claims it exposes as `request.jwt.claims`.
 * No bearer token (only the publishable key): `anon`.
 */
export interface Caller {
  role: "anon" | "authenticated" | "service_role";
  claims: Record<string, unknown>;
}

export const anonCaller: Caller = { role: "anon", claims: { role: "anon" } };

/** Verifies an access token signed by the local signing key (signature, expiry); answers its caller. */
export async function verifyAccessToken(keys: AuthKeys, token: string): Promise<Caller> {
  const { payload } = await jwtVerify(token, await importJWK(keys.publicJwk, "ES256"), {
    algorithms: ["ES256"],
  });
  const role = payload.role;
  if (role !== "authenticated" && role !== "anon" && role !== "service_role") {
    throw new Error(`role ${String(role)} is not one this project has`);
  }
  return { role, claims: payload as Record<string, unknown> };
}

/**
 * Runs `fn` in one transaction as the caller, exactly as PostgREST does: `set local role` to the
 * caller's role and the claims in `request.jwt.claims`, so grants and row-level security decide.
 * Both settings are transaction-local.
 */
export async function asCaller<T>(caller: Caller, fn: (tx: Transaction) => Promise<T>): Promise<T> {
  const { db } = await getEngine();
  return db.transaction(async (tx) => {
    await tx.execute(
      sql`select set_config('role', ${caller.role}, true), set_config('request.jwt.claims', ${JSON.stringify(caller.claims)}, true)`,
    );
    return fn(tx);
  });
}
