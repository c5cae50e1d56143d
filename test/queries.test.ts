import { beforeAll, describe, expect, it } from "vitest";
import * as alertsFn from "../api/alerts/[user_id]";
import * as campaignsFn from "../api/campaigns/[user_id]";
import * as insightsFn from "../api/insights/[user_id]";
import * as leadsFn from "../api/leads/[user_id]";
import * as tasksFn from "../api/tasks/[user_id]";
import type { FunctionExports } from "../lib/http/handler";
import { call, createUser, tokenFor } from "./support/helpers";
import { seedQueryRows } from "./support/seed";

const endpoints: {
  name: string;
  fn: FunctionExports;
  filter: string;
  matches: (row: Record<string, unknown>) => boolean;
}[] = [
  { name: "tasks", fn: tasksFn, filter: "status=failed", matches: (row) => row.status === "failed" },
  { name: "leads", fn: leadsFn, filter: "min_score=50", matches: (row) => Number(row.score) >= 50 },
  {
    name: "insights",
    fn: insightsFn,
    filter: "tag=pricing",
    matches: (row) => (row.tags as string[]).includes("pricing"),
  },
  {
    name: "campaigns",
    fn: campaignsFn,
    filter: "channel=linkedin",
    matches: (row) => row.channel === "linkedin",
  },
  { name: "alerts", fn: alertsFn, filter: "read=false", matches: (row) => row.read === false },
];

const rowsPerUser = 23;
let owner: string;
let stranger: string;
let ownerToken: string;

beforeAll(async () => {
  owner = await createUser();
  stranger = await createUser();
  await seedQueryRows(owner, rowsPerUser);
  await seedQueryRows(stranger, 5);
  ownerToken = await tokenFor(owner);
});

describe.each(endpoints)("GET /api/$name/{user_id}", ({ name, fn, filter, matches }) => {
  const path = (userId: string, query = "") => `/api/${name}/${userId}${query ? `?${query}` : ""}`;

  describe("happy", () => {
    it("returns only the caller's rows, in order, across every page without overlap", async () => {
      const seen: Record<string, unknown>[] = [];
      let cursor: string | null = null;
      let pages = 0;
      do {
        const query: string = `limit=10${cursor ? `&cursor=${cursor}` : ""}`;
        const res = await call(fn, "GET", path(owner, query), { token: ownerToken });
        expect(res.status).toBe(200);
        expect(res.body.success).toBe(true);
        const data = res.body.data as Record<string, unknown>[];
        expect(data.length).toBeLessThanOrEqual(10);
        seen.push(...data);
        cursor = res.body.next_cursor as string | null;
        pages += 1;
      } while (cursor && pages < 10);

      expect(pages).toBe(3);
      expect(seen).toHaveLength(rowsPerUser);
      expect(new Set(seen.map((row) => row.id)).size).toBe(rowsPerUser);
      expect(seen.every((row) => row.user_id === owner)).toBe(true);
      const sortKey = (row: Record<string, unknown>) =>
        name === "leads"
          ? [Number(row.score), String(row.created_at), String(row.id)]
          : [String(row.created_at), String(row.id)];
      for (let i = 1; i < seen.length; i++) {
        const prev = sortKey(seen[i - 1] as Record<string, unknown>);
        const next = sortKey(seen[i] as Record<string, unknown>);
        expect(compareDesc(prev, next)).toBeGreaterThan(0);
      }
    });

    it(`filters (${filter})`, async () => {
      const all = await call(fn, "GET", path(owner, "limit=100"), { token: ownerToken });
      const filtered = await call(fn, "GET", path(owner, `limit=100&${filter}`), { token: ownerToken });
      expect(filtered.status).toBe(200);
      const expected = (all.body.data as Record<string, unknown>[]).filter(matches).map((row) => row.id);
      const got = (filtered.body.data as Record<string, unknown>[]).map((row) => row.id);
      expect(got.length).toBeGreaterThan(0);
      expect(got.length).toBeLessThan(rowsPerUser);
      expect(got).toEqual(expected);
    });

    it("answers timestamps in ISO 8601 and a null cursor on the last page", async () => {
      const res = await call(fn, "GET", path(owner, "limit=100"), { token: ownerToken });
      const first = (res.body.data as Record<string, unknown>[])[0] as Record<string, unknown>;
      expect(new Date(String(first.created_at)).toISOString()).toMatch(/^\d{4}-/);
      expect(String(first.created_at)).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?[+-]\d\d:\d\d$/);
      expect(res.body.next_cursor).toBeNull();
    });
  });

  describe("error", () => {
    it.each([
      ["limit=0", "query.limit"],
      ["limit=101", "query.limit"],
      ["limit=ten", "query.limit"],
      ["cursor=not-a-cursor", "query.cursor"],
      [`cursor=${Buffer.from('["x"]').toString("base64url")}`, "query.cursor"],
    ])("400 for %s naming %s", async (query, named) => {
      const res = await call(fn, "GET", path(owner, query), { token: ownerToken });
      expect(res.status).toBe(400);
      expect(res.body.error?.code).toBe("bad_request");
      expect(res.body.error?.message).toContain(named);
      expect(res.body.error?.requestId).toBeTruthy();
    });

    it("400 for a user_id that is not a UUID", async () => {
      const res = await call(fn, "GET", path("not-a-uuid"), { token: ownerToken });
      expect(res.status).toBe(400);
      expect(res.body.error?.message).toContain("user_id");
    });

    it("405 with Allow for a write method", async () => {
      const res = await call(fn, "POST", path(owner), { token: ownerToken, body: {} });
      expect(res.status).toBe(405);
      expect(res.headers.get("allow")).toBe("GET, OPTIONS");
    });
  });

  describe("security", () => {
    it("401 without a session", async () => {
      const res = await call(fn, "GET", path(owner));
      expect(res.status).toBe(401);
      expect(res.body.error?.code).toBe("unauthorized");
    });

    it.each([
      ["expired", () => tokenFor(owner, { expiresInSeconds: -60 })],
      // RFC 7519 §4.1.5: not to be accepted before nbf; an iat ahead of the clock is not a real session.
      ["not valid yet (nbf in an hour)", () => tokenFor(owner, { notBeforeInSeconds: 3600 })],
      [
        "issued in the future (iat in 10 minutes)",
        () => tokenFor(owner, { issuedInSeconds: 600, expiresInSeconds: 7200 }),
      ],
      ["issued for another project", () => tokenFor(owner, { issuer: "https://other.supabase.co/auth/v1" })],
      ["anon role", () => tokenFor(owner, { role: "anon" })],
      ["wrong audience", () => tokenFor(owner, { audience: "something-else" })],
      ["tampered payload", async () => tamper(await tokenFor(owner))],
      ["symmetric-key forgery", async () => forgeHs256(owner)],
      ["garbage", async () => "not.a.jwt"],
    ])("401 for a %s token", async (_, makeToken) => {
      const res = await call(fn, "GET", path(owner), { token: await makeToken() });
      expect(res.status).toBe(401);
      expect(res.body.error?.code).toBe("unauthorized");
    });

    it("403 when the session's user is not user_id, and nothing of the other user leaks", async () => {
      const res = await call(fn, "GET", path(stranger), { token: ownerToken });
      expect(res.status).toBe(403);
      expect(res.body.error?.code).toBe("forbidden");
      expect(JSON.stringify(res.body)).not.toContain(`${stranger.slice(0, 8)}@`);
    });

    it("a stranger's own query never returns the owner's rows", async () => {
      const res = await call(fn, "GET", path(stranger, "limit=100"), { token: await tokenFor(stranger) });
      expect(res.status).toBe(200);
      const data = res.body.data as Record<string, unknown>[];
      expect(data).toHaveLength(5);
      expect(data.every((row) => row.user_id === stranger)).toBe(true);
    });
  });
});

function compareDesc(a: (string | number)[], b: (string | number)[]): number {
  for (let i = 0; i < a.length; i++) {
    const x = a[i] as string | number;
    const y = b[i] as string | number;
    if (x !== y) {
      return x > y ? 1 : -1;
    }
  }
  return 0;
}

function tamper(token: string): string {
  const [header, payload, signature] = token.split(".");
  const claims = JSON.parse(Buffer.from(payload ?? "", "base64url").toString());
  claims.sub = "00000000-0000-4000-8000-000000000000";
  return [header, Buffer.from(JSON.stringify(claims)).toString("base64url"), signature].join(".");
}

async function forgeHs256(userId: string): Promise<string> {
  const { SignJWT } = await import("jose");
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({ role: "authenticated" })
    .setProtectedHeader({ alg: "HS256" })
    .setSubject(userId)
    .setAudience("authenticated")
    .setIssuer(`${process.env.SUPABASE_URL}/auth/v1`)
    .setIssuedAt(now)
    .setExpirationTime(now + 600)
    .sign(new TextEncoder().encode("guessed-secret-guessed-secret-123"));
}
