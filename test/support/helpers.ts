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
/** The postal address the suites' personal workspaces send under (the footer requires one). */
export const testPostalAddress = "Test Business Ltd, 1 Quay Street, Bristol BS1 4DB, United Kingdom";

/**
 * A user, with the personal workspace sign-up gives them; that workspace gets the suites' postal
 * address unless `postalAddress` is null (a workspace that has not set one yet). Its sending window
 * is every hour of every day, so a suite does not depend on the hour it runs at, unless
 * `defaultWindow` keeps the product's (weekdays 09:00–17:00 in each lead's zone, holidays skipped).
 */
export async function createUser(
  email = `user-${randomUUID().slice(0, 8)}@example.test`,
  id: string = randomUUID(),
  options: { postalAddress?: string | null; defaultWindow?: boolean } = {},
): Promise<string> {
  const db = await serviceDb();
  await db.execute(sql`insert into auth.users (id, email) values (${id}, ${email})`);
  const postalAddress = options.postalAddress === undefined ? testPostalAddress : options.postalAddress;
  if (postalAddress) {
    await db.execute(sql`update public.workspaces set postal_address = ${postalAddress} where id = ${id}`);
  }
  if (!options.defaultWindow) {
    await db.execute(
      sql`update public.workspaces set sending_hours = '00:00-24:00', sending_days = '1-7', skip_holidays = false where id = ${id}`,
    );
  }
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

/**
 * Reads a composed message with a second MIME parser, independent of the one that wrote it (Proton's
 * port of Thunderbird's JSMime, not nodemailer's family), and asserts what every commercial email
 * must carry: CRLF line ends only (RFC 5322 §2.3), the sender's postal address in both bodies
 * (CAN-SPAM), and the one-click unsubscribe headers (RFC 8058). Returns the parsed message.
 */
export async function expectCompliantMessage(mime: string | Buffer, postalAddress = testPostalAddress) {
  const { expect } = await import("vitest");
  const { parseMail } = await import("@protontech/jsmimeparser");
  const raw = typeof mime === "string" ? Buffer.from(mime, "utf8") : mime;
  const text = raw.toString("latin1");
  expect(text.match(/\r(?!\n)|(?<!\r)\n/g) ?? [], "bare CR or LF in the message").toEqual([]);
  const parsed = parseMail(new Uint8Array(raw));
  expect(parsed.body.text).toContain(postalAddress);
  expect(parsed.body.html).toContain(postalAddress);
  expect(parsed.headers["list-unsubscribe"]?.[0]).toMatch(/^<https?:\/\/[^>]+>, <mailto:[\x21-\x7e]+>$/);
  expect(parsed.headers["list-unsubscribe-post"]).toEqual(["List-Unsubscribe=One-Click"]);
  expect(parsed.headers["message-id"]?.[0]).toMatch(/^<[\x21-\x7e]+>$/);
  return parsed;
}
