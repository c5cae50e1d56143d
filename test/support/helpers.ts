import { randomUUID } from "node:crypto";
import { sql } from "drizzle-orm";
import { inject } from "vitest";
import { mintSessionToken, type TokenOptions } from "../../dev/auth";
import type { DevSecrets } from "../../dev/env";
import { serviceDb } from "../../lib/db/service";
import type { FunctionExports } from "../../lib/http/handler";

export const secrets = JSON.parse(inject("secrets")) as DevSecrets;
export const authUrl = inject("authUrl");
export { rotatedWebhookSecret } from "./rotation";

/** A session token as Supabase Auth would issue it for `userId`. */
export function tokenFor(userId: string, options: TokenOptions = {}): Promise<string> {
  return mintSessionToken(secrets.auth, authUrl, userId, options);
}

/**
 * A new row in auth.users, as a sign-up would make; its trigger makes the user's personal workspace,
 * whose id is the user's.
 */
export async function createUser(
  email = `user-${randomUUID().slice(0, 8)}@example.test`,
  id: string = randomUUID(),
): Promise<string> {
  const db = await serviceDb();
  await db.execute(sql`insert into auth.users (id, email) values (${id}, ${email})`);
  return id;
}

/** Adds a user to a workspace with a role, as an accepted invitation does. */
export async function addMember(workspaceId: string, userId: string, role: "owner" | "admin" | "member") {
  const db = await serviceDb();
  await db.execute(
    sql`insert into public.workspace_members (workspace_id, user_id, role) values (${workspaceId}, ${userId}, ${role})`,
  );
}

export type CallBody = Record<string, unknown> & {
  error?: { code: string; message: string; requestId: string; details?: unknown };
};

export interface CallOptions {
  token?: string;
  body?: unknown;
  headers?: Record<string, string>;
}

/** Calls a function's exported handler with a web-standard Request, as Vercel does. */
export async function call(
  fn: FunctionExports,
  method: keyof FunctionExports,
  path: string,
  options: CallOptions = {},
): Promise<{ status: number; headers: Headers; body: CallBody }> {
  const headers: Record<string, string> = { ...options.headers };
  if (options.token) {
    headers.authorization = `Bearer ${options.token}`;
  }
  let body: string | undefined;
  if (options.body !== undefined) {
    body = typeof options.body === "string" ? options.body : JSON.stringify(options.body);
    headers["content-type"] ??= "application/json";
  }
  const response = await fn[method](new Request(`http://app.test${path}`, { method, headers, body }));
  const text = await response.text();
  return { status: response.status, headers: response.headers, body: text ? JSON.parse(text) : {} };
}

/**
 * A task inserted the way the frontend inserts it through PostgREST: as the `authenticated` role with
 * the user's claims, naming only the columns it sends (PostgREST lists no others).
 */
export async function insertTaskAsFrontend(
  userId: string,
  values: { agent_name: string; input: Record<string, unknown>; workspace_id?: string },
): Promise<{ id: string; status: string; workspace_id: string }> {
  const { asUser } = await import("../../lib/db/as-user");
  const { rowsOf } = await import("../../lib/db/client");
  const [row] = await asUser({ id: userId }, async (tx) =>
    rowsOf<{ id: string; status: string; workspace_id: string }>(
      await tx.execute(
        values.workspace_id
          ? sql`insert into public.agent_tasks (workspace_id, agent_name, input)
                values (${values.workspace_id}, ${values.agent_name}, ${JSON.stringify(values.input)}::jsonb)
                returning id, status, workspace_id`
          : sql`insert into public.agent_tasks (agent_name, input)
                values (${values.agent_name}, ${JSON.stringify(values.input)}::jsonb)
                returning id, status, workspace_id`,
      ),
    ),
  );
  if (!row) {
    throw new Error("the insert returned nothing");
  }
  return row;
}
