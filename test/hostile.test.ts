import { randomUUID } from "node:crypto";
import { eq } from "drizzle-orm";
import { describe, expect, it } from "vitest";
import * as engineer from "../api/agents/engineer";
import * as leadsList from "../api/leads/[user_id]";
import * as tasksList from "../api/tasks/[user_id]";
import { campaigns, emailEvents, leads } from "../lib/db/schema";
import { serviceDb } from "../lib/db/service";
import { runFollowUps } from "../lib/email/follow-ups";
import { log } from "../lib/log";
import { extractContacts } from "../lib/scrape/contacts";
import { pageContent } from "../lib/scrape/markdown";
import { call, createUser, tokenFor } from "./support/helpers";

/**
 * Hostile input that used to reach a 500 or a lost job: forged keyset cursors, bodies nested deep
 * enough to exhaust a recursive walker, a page whose JSON-LD nests ten thousand levels, and a
 * scheduled run meeting a row it cannot use. Each is a clear 4xx or a handled, recorded outcome.
 */
const cursor = (values: unknown) => Buffer.from(JSON.stringify(values)).toString("base64url");

describe("forged keyset cursors", () => {
  it.each([
    ["two strings where a timestamp and a uuid go", ["x", "y"]],
    ["a bad uuid", ["2026-11-24 21:07:00.123456+00", "not-a-uuid"]],
    ["an impossible date", ["2026-99-99 00:00:00+00", randomUUID()]],
    ["a timestamp with no zone", ["2026-11-24 21:07:00", randomUUID()]],
  ])("tasks: %s is a 400 naming the cursor", async (_, values) => {
    const user = await createUser();
    const res = await call(tasksList, "GET", `/api/tasks/${user}?cursor=${cursor(values)}`, {
      token: await tokenFor(user),
    });
    expect(res.status, JSON.stringify(res)).toBe(400);
    expect(res.body.error?.message).toBe("query.cursor: not a cursor returned by this endpoint");
  });

  it("leads: a score out of the integer range is a 400, not a database error", async () => {
    const user = await createUser();
    for (const score of [2 ** 40, -(2 ** 40), 1.5]) {
      const res = await call(
        leadsList,
        "GET",
        `/api/leads/${user}?cursor=${cursor([score, "2026-11-24 21:07:00+00", randomUUID()])}`,
        { token: await tokenFor(user) },
      );
      expect(res.status, JSON.stringify(res)).toBe(400);
    }
  });
});

describe("bodies nested deep enough to exhaust a recursive walker", () => {
  it.each([
    ["a 200,000-deep array", `${"[".repeat(200_000)}${"]".repeat(200_000)}`],
    ["a 5,000-deep object", `${'{"a":'.repeat(5000)}1${"}".repeat(5000)}`],
    ["33 levels", `${"[".repeat(33)}${"]".repeat(33)}`],
  ])("in `context`, %s is a 400 and stores nothing", async (_, nested) => {
    const user = await createUser();
    const res = await call(engineer, "POST", "/api/agents/engineer", {
      token: await tokenFor(user),
      body: `{"user_id":"${user}","prompt":"hello","context":{"deep":${nested}}}`,
    });
    expect(res.status, JSON.stringify(res).slice(0, 300)).toBe(400);
    expect(res.body.error?.message).toMatch(/nested more than 32 levels deep/);
    const listed = await call(tasksList, "GET", `/api/tasks/${user}`, { token: await tokenFor(user) });
    expect(listed.body.data).toEqual([]);
  });

  it("32 levels is still a body", async () => {
    const user = await createUser();
    const res = await call(engineer, "POST", "/api/agents/engineer", {
      token: await tokenFor(user),
      body: `{"user_id":"${user}","prompt":"hello","context":{"deep":${"[".repeat(30)}${"]".repeat(30)}}}`,
    });
    expect(res.status, JSON.stringify(res).slice(0, 300)).toBe(200);
  });
});

describe("a page whose JSON-LD nests ten thousand levels", () => {
  const deep = `${'{"@type":"Thing","x":'.repeat(10_000)}{}${"}".repeat(10_000)}`;
  const html = `<!doctype html><html><head><title>Deep Co</title>
<script type="application/ld+json">${deep}</script>
<script type="application/ld+json">{"@type":"Organization","name":"Deep Co","email":"hello@deep.example"}</script>
</head><body><p>Write to sales@deep.example</p></body></html>`;

  it("is read without a stack overflow: the deep block is left out, the rest of the page is used", () => {
    const content = pageContent(html, "https://deep.example/");
    expect(content.jsonLd).toEqual([
      { "@type": "Organization", name: "Deep Co", email: "hello@deep.example" },
    ]);
    const contacts = extractContacts(html, "https://deep.example/");
    expect(contacts.emails.map((email) => email.address).sort()).toEqual([
      "hello@deep.example",
      "sales@deep.example",
    ]);
  });
});

describe("a scheduled run meeting a row it cannot use", () => {
  it("a sent email without a send time is left out; the follow-ups of everyone else still run", async () => {
    const broken = await createUser();
    const db = await serviceDb();
    const [campaign] = await db
      .insert(campaigns)
      .values({
        workspace_id: broken,
        user_id: broken,
        name: "Broken",
        status: "active",
        steps: [{ day_offset: 0, instructions: "nudge" }],
      })
      .returning();
    const [lead] = await db
      .insert(leads)
      .values({ workspace_id: broken, user_id: broken, name: "No time", email: `${randomUUID()}@x.example` })
      .returning();
    await db.insert(emailEvents).values({
      workspace_id: broken,
      user_id: broken,
      lead_id: lead?.id,
      campaign_id: campaign?.id,
      event_type: "sent",
      sent_at: null,
    });
    // A campaign whose steps are not steps at all.
    await db.insert(campaigns).values({
      workspace_id: broken,
      user_id: broken,
      name: "Garbled",
      status: "active",
      steps: [{ nonsense: true }],
    });
    const result = await runFollowUps(log);
    expect(result).toMatchObject({ failures: [] });
    const written = await db
      .select()
      .from(emailEvents)
      .where(eq(emailEvents.campaign_id, campaign?.id ?? ""));
    expect(written).toHaveLength(1);
  });
});
