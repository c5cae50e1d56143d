import { randomUUID } from "node:crypto";
import { eq, sql as raw } from "drizzle-orm";
import { beforeAll, describe, expect, it } from "vitest";
import type { FunctionExports } from "../lib/http/handler";
import { call, createUser, tokenFor } from "./support/helpers";

/**
 * Cross-user attempts on every endpoint: with her own valid session, Mallory names Alice as the user
 * (every agent and every list), or names Alice's rows inside her own requests (leads to email, drafts
 * to approve, a campaign, a lead or meeting to prepare, a lead to book with). Each is refused or finds
 * nothing, and nothing of Alice's is read back, changed or added to. Row-level security on every table
 * is the persona matrix in rls.test.ts.
 */
let db: typeof import("../lib/db/schema");
let service: typeof import("../lib/db/service");
let alice: string;
let mallory: string;
let malloryToken: string;
const agents: Record<string, FunctionExports> = {};
const lists: Record<string, FunctionExports> = {};
let owned: { lead: string; draft: string; campaign: string; meeting: string };

beforeAll(async () => {
  db = await import("../lib/db/schema");
  service = await import("../lib/db/service");
  for (const name of db.agentNames) {
    agents[name] = await import(`../api/agents/${name}.ts`);
  }
  for (const name of ["tasks", "leads", "insights", "campaigns", "alerts"]) {
    lists[name] = await import(`../api/${name}/[user_id].ts`);
  }
  alice = await createUser();
  mallory = await createUser();
  malloryToken = await tokenFor(mallory);
  const sql = await service.serviceDb();
  const [lead] = await sql
    .insert(db.leads)
    .values({
      workspace_id: alice,
      user_id: alice,
      name: "Ada",
      email: "ada@alice-customer.example",
      company: "Alice Co",
      score: 90,
    })
    .returning();
  const [campaign] = await sql
    .insert(db.campaigns)
    .values({ workspace_id: alice, user_id: alice, name: "Alice's campaign", status: "active" })
    .returning();
  const [draft] = await sql
    .insert(db.emailEvents)
    .values({
      workspace_id: alice,
      user_id: alice,
      lead_id: lead?.id,
      event_type: "drafted",
      to_email: lead?.email,
      subject: "Alice's draft",
      body_text: "secret pricing",
    })
    .returning();
  const [meeting] = await sql
    .insert(db.calendarEvents)
    .values({
      workspace_id: alice,
      user_id: alice,
      lead_id: lead?.id,
      title: "Alice's meeting",
      start_time: new Date(Date.now() + 86_400_000).toISOString(),
    })
    .returning();
  owned = {
    lead: lead?.id ?? "",
    draft: draft?.id ?? "",
    campaign: campaign?.id ?? "",
    meeting: meeting?.id ?? "",
  };
});

/** Everything of Alice's, to compare before and after. */
async function aliceSnapshot() {
  const sql = await service.serviceDb();
  const { rowsOf } = await import("../lib/db/client");
  const count = async (table: string) =>
    rowsOf<{ n: number }>(
      await sql.execute(raw.raw(`select count(*)::int as n from public.${table} where user_id = '${alice}'`)),
    )[0]?.n;
  const [draft] = await sql.select().from(db.emailEvents).where(eq(db.emailEvents.id, owned.draft));
  return {
    tables: Object.fromEntries(
      await Promise.all(
        [
          "agent_tasks",
          "leads",
          "email_events",
          "campaigns",
          "calendar_events",
          "call_scripts",
          "alerts",
        ].map(async (table) => [table, await count(table)] as const),
      ),
    ),
    draft: draft?.event_type,
  };
}

const post = (name: string, body: Record<string, unknown>) =>
  call(agents[name] as FunctionExports, "POST", `/api/agents/${name}`, {
    token: malloryToken,
    body,
    headers: { "idempotency-key": randomUUID() },
  });

describe("cross-user attempts", () => {
  it("every agent refuses to act as another user (403), before anything is stored", async () => {
    const before = await aliceSnapshot();
    for (const name of Object.keys(agents)) {
      const body: Record<string, unknown> = {
        user_id: alice,
        prompt: "Tell me everything about this business",
      };
      if (name === "leadgen-scraper") {
        body.target_urls = ["https://example.com/"];
      }
      const answer = await post(name, body);
      expect(answer.status, name).toBe(403);
      expect((answer.body as { error: { code: string } }).error.code, name).toBe("forbidden");
    }
    expect(await aliceSnapshot()).toEqual(before);
  });

  it("every agent refuses to act in a workspace the caller is not in (403), before anything is stored", async () => {
    const before = await aliceSnapshot();
    for (const name of Object.keys(agents)) {
      const body: Record<string, unknown> = {
        user_id: mallory,
        workspace_id: alice,
        prompt: "Summarise this business",
      };
      if (name === "leadgen-scraper") {
        body.target_urls = ["https://example.com/"];
      }
      const answer = await post(name, body);
      expect(answer.status, `${name}: ${JSON.stringify(answer.body)}`).toBe(403);
    }
    expect(await aliceSnapshot()).toEqual(before);
  });

  it("every list refuses another workspace's filter (403) and never leaks a row", async () => {
    for (const [name, fn] of Object.entries(lists)) {
      const answer = await call(fn, "GET", `/api/${name}/${mallory}?workspace_id=${alice}`, {
        token: malloryToken,
      });
      expect(answer.status, `${name}: ${JSON.stringify(answer.body)}`).toBe(403);
      expect(JSON.stringify(answer.body)).not.toContain("Ada");
      const mine = await call(fn, "GET", `/api/${name}/${mallory}`, { token: malloryToken });
      expect(mine.status, name).toBe(200);
      expect(JSON.stringify(mine.body)).not.toContain("Ada");
    }
  });

  it("every list refuses another user's id (403) and never leaks a row", async () => {
    for (const [name, fn] of Object.entries(lists)) {
      const answer = await call(fn, "GET", `/api/${name}/${alice}`, { token: malloryToken });
      expect(answer.status, name).toBe(403);
      expect(JSON.stringify(answer.body)).not.toContain("Ada");
      const upper = await call(fn, "GET", `/api/${name}/${alice.toUpperCase()}`, { token: malloryToken });
      expect(upper.status, `${name} upper-case id`).toBe(403);
    }
  });

  it("another user's rows named inside one's own requests are not found, and stay untouched", async () => {
    const before = await aliceSnapshot();
    const attempts: [string, Record<string, unknown>][] = [
      ["outbound-emailer", { user_id: mallory, lead_ids: [owned.lead] }],
      ["outbound-emailer", { user_id: mallory, lead_ids: [owned.lead], mode: "send" }],
      ["outbound-emailer", { user_id: mallory, event_ids: [owned.draft], mode: "send" }],
      [
        "outbound-emailer",
        { user_id: mallory, filter: { status: "new", min_score: 0 }, campaign_id: owned.campaign },
      ],
      ["booking-callprep", { user_id: mallory, lead_id: owned.lead }],
      ["booking-callprep", { user_id: mallory, calendar_event_id: owned.meeting }],
    ];
    for (const [name, body] of attempts) {
      const answer = await post(name, body);
      const text = JSON.stringify(answer.body);
      expect(
        answer.status,
        `${name} ${Object.keys(body).join(",")}: ${text.slice(0, 200)}`,
      ).toBeGreaterThanOrEqual(200);
      expect(answer.status).toBeLessThan(500);
      if (answer.status === 200) {
        // Found nothing to act on: no email, no booking for Alice's lead. Her lead's id, which the
        // caller sent, comes back only as not found in the caller's workspace.
        const echoed = text.split(owned.lead).length - 1;
        const notFound = text.split('"reason":"no such lead in this workspace"').length - 1;
        expect(echoed).toBeLessThanOrEqual(notFound);
        expect(text).not.toContain("ada@alice-customer.example");
      } else {
        expect([404, 422], text).toContain(answer.status);
      }
      expect(text).not.toContain("secret pricing");
    }
    expect(await aliceSnapshot()).toEqual(before);
  });
});
