import { createHash, randomUUID } from "node:crypto";
import { eq } from "drizzle-orm";
import { SignJWT } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { DevServer } from "../dev/server";
import { createUser, secrets } from "./support/helpers";
import { qstashDestinations, startTestStack } from "./support/stack";

/**
 * The signature negative matrix for every function QStash delivers to (the four workers, the four
 * schedules, the scrape callback): missing, not a JWT, the wrong algorithm, an unknown key, expired,
 * not yet valid, issued by someone else, signed for another URL, for another body. Each is a 401 in
 * the envelope with nothing run or stored; a signature made with the next key (rotation) and the
 * current one both pass. (The task webhook's Standard Webhooks matrix, Gmail's OIDC refusals and the
 * Calendar channel forgeries are in their own suites.)
 */
let dev: DevServer;
let db: typeof import("../lib/db/schema");
let service: typeof import("../lib/db/service");

beforeAll(async () => {
  dev = await startTestStack();
  db = await import("../lib/db/schema");
  service = await import("../lib/db/service");
});

afterAll(async () => {
  await dev?.close();
});

const endpoints = [...qstashDestinations, "/webhook/scrape"];

interface Claims {
  key?: string;
  url: string;
  body: string;
  issuer?: string;
  alg?: "HS256" | "HS512";
  iat?: number;
  nbf?: number;
  exp?: number;
}

async function sign(claims: Claims): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({ body: createHash("sha256").update(claims.body).digest("base64url") })
    .setProtectedHeader({ alg: claims.alg ?? "HS256", typ: "JWT" })
    .setIssuer(claims.issuer ?? "Upstash")
    .setSubject(claims.url)
    .setJti(`jwt_${randomUUID()}`)
    .setIssuedAt(claims.iat ?? now)
    .setNotBefore(claims.nbf ?? now)
    .setExpirationTime(claims.exp ?? now + 300)
    .sign(new TextEncoder().encode(claims.key ?? secrets.qstashCurrentSigningKey));
}

/** A body each endpoint accepts without doing anything (an invalid job is acknowledged). */
const harmless = '{"nothing":"to do"}';

async function deliver(path: string, signature: string | undefined, body = harmless) {
  const response = await fetch(`${dev.url}${path}`, {
    method: "POST",
    headers: {
      "content-type": "application/json",
      "upstash-message-id": `msg_${randomUUID()}`,
      ...(signature === undefined ? {} : { "upstash-signature": signature }),
    },
    body,
  });
  return {
    status: response.status,
    body: (await response.json()) as { data?: { outcome?: string }; error?: { code: string } },
  };
}

async function storedEvents() {
  const sql = await service.serviceDb();
  return (await sql.select({ id: db.webhookEvents.id }).from(db.webhookEvents)).length;
}

describe.each(endpoints)("QStash signatures on %s", (path) => {
  const url = () => `${process.env.APP_URL}${path}`;
  const now = () => Math.floor(Date.now() / 1000);
  const refused: [string, () => Promise<string | undefined>, string?][] = [
    ["missing", async () => undefined],
    ["not a JWT", async () => "garbage.not.jwt"],
    ["unsigned (alg none)", async () => `${Buffer.from('{"alg":"none"}').toString("base64url")}.e30.`],
    ["the wrong algorithm", async () => sign({ url: url(), body: harmless, alg: "HS512" })],
    [
      "an unknown key",
      async () => sign({ url: url(), body: harmless, key: "sig_not_ours_0123456789abcdef" }),
    ],
    [
      "expired",
      async () => sign({ url: url(), body: harmless, iat: now() - 900, nbf: now() - 900, exp: now() - 60 }),
    ],
    [
      "not valid yet",
      async () => sign({ url: url(), body: harmless, iat: now() + 600, nbf: now() + 600, exp: now() + 900 }),
    ],
    ["another issuer", async () => sign({ url: url(), body: harmless, issuer: "Someone" })],
    [
      "for another URL",
      async () => sign({ url: `${process.env.APP_URL}/api/workers/elsewhere`, body: harmless }),
    ],
    ["for another body", async () => sign({ url: url(), body: harmless }), '{"nothing":"to do!"}'],
  ];

  it.each(refused)("refuses a signature %s: 401, nothing run", async (_, signature, body) => {
    const before = await storedEvents();
    const answer = await deliver(path, await signature(), body);
    expect(answer.status).toBe(401);
    expect(answer.body.error?.code).toBe("invalid_signature");
    expect(await storedEvents()).toBe(before);
  });

  it("accepts the current key and the next one (rotation)", async () => {
    for (const key of [secrets.qstashCurrentSigningKey, secrets.qstashNextSigningKey]) {
      const answer = await deliver(path, await sign({ url: url(), body: harmless, key }));
      expect(answer.status, key === secrets.qstashNextSigningKey ? "next key" : "current key").not.toBe(401);
      expect(answer.status).toBeLessThan(500);
    }
  });
});

describe("a signed scrape callback replayed", () => {
  it("is applied once", async () => {
    const sql = await service.serviceDb();
    const body = JSON.stringify({
      status: 200,
      sourceMessageId: `msg_${randomUUID()}`,
      // A real site job (anything else is ignored before it is recorded), answered "deferred".
      sourceBody: Buffer.from(
        JSON.stringify({
          task_id: randomUUID(),
          user_id: await createUser(),
          site: "example.com",
          start_urls: ["https://example.com/"],
          max_pages: 1,
        }),
      ).toString("base64"),
      body: Buffer.from(JSON.stringify({ success: true, data: { outcome: "deferred" } })).toString("base64"),
    });
    const url = `${process.env.APP_URL}/webhook/scrape`;
    const first = await deliver("/webhook/scrape", await sign({ url, body }), body);
    const again = await deliver("/webhook/scrape", await sign({ url, body }), body);
    expect(first).toMatchObject({ status: 200, body: { data: { outcome: "ignored" } } });
    expect(again).toMatchObject({ status: 200, body: { data: { outcome: "duplicate" } } });
    const rows = await sql.select().from(db.webhookEvents).where(eq(db.webhookEvents.source, "scrape"));
    expect(rows).toHaveLength(1);
  });
});
