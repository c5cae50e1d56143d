import { generateKeyPairSync, randomUUID } from "node:crypto";
import { eq } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { DevServer } from "../dev/server";
import { StandInGoogle } from "../dev/stand-ins/google";
import { startDnsStandIn } from "./stand-ins/dns";
import { createUser } from "./support/helpers";
import { connectGoogle, sessionApi, startTestStack } from "./support/stack";

/**
 * EMAIL_SENDER_CHECK=enforce over HTTP: a workspace whose Google account is on a domain with SPF for
 * Google sends; one whose domain publishes neither SPF nor a DKIM key is refused at approval with
 * the findings (409 sender_not_authenticated), its admins are alerted once, and the mailbox list
 * shows the check. The records are those of test/sender-check.test.ts, whose sources it cites.
 */
let dev: DevServer;
const google = new StandInGoogle();
let closeDns: () => Promise<void>;
const key = generateKeyPairSync("rsa", { modulusLength: 2048 })
  .publicKey.export({ type: "spki", format: "der" })
  .toString("base64");

beforeAll(async () => {
  await google.start();
  const dns = await startDnsStandIn(
    { "good-roasters.example": "aspmx.l.google.com", "bare-roasters.example": "mx.bare-roasters.example" },
    {
      txt: {
        "_spf.google.com": ["v=spf1 include:_netblocks.google.com ~all"],
        "_netblocks.google.com": ["v=spf1 ip4:209.85.128.0/17 ~all"],
        "good-roasters.example": ["v=spf1 include:_spf.google.com ~all"],
        "google._domainkey.good-roasters.example": [`v=DKIM1; k=rsa; p=${key}`],
        "_dmarc.good-roasters.example": ["v=DMARC1; p=none"],
      },
    },
  );
  closeDns = dns.close;
  dev = await startTestStack({
    ...google.oauthEnv(),
    DNS_SERVERS: dns.server,
    EMAIL_SENDER_CHECK: "enforce",
    EMAIL_MIN_GAP_SECONDS: "0",
    EMAIL_GAP_JITTER_SECONDS: "0",
  });
});

afterAll(async () => {
  await dev?.close();
  await google.close();
  await closeDns?.();
});

async function businessOn(address: string) {
  const user = await createUser();
  const account = google.addAccount(address);
  const landed = await connectGoogle(dev, google, account, user);
  expect(landed.searchParams.get("google")).toBe("connected");
  const service = await import("../lib/db/service");
  const db = await import("../lib/db/schema");
  const sql = await service.serviceDb();
  const [lead] = await sql
    .insert(db.leads)
    .values({
      workspace_id: user,
      user_id: user,
      name: "Jane",
      email: `jane-${randomUUID().slice(0, 6)}@cafe.example`,
      company: "Cafe",
    })
    .returning();
  return { user, account, lead };
}

const api = (...args: Parameters<ReturnType<typeof sessionApi>>) => sessionApi(dev)(...args);

describe("sender checks, enforced", () => {
  it("a domain with SPF for Google sends; one with neither SPF nor DKIM is refused with the findings and alerts", async () => {
    const good = await businessOn("sam@good-roasters.example");
    const sent = await api(good.user, "POST", "/api/agents/outbound-emailer", {
      user_id: good.user,
      lead_ids: [good.lead?.id],
      mode: "send",
    });
    expect(sent.status, JSON.stringify(sent.body)).toBe(200);
    await dev.broker.settle(200, 60_000);
    expect(good.account.sent).toHaveLength(1);
    const goodBoxes = await api(good.user, "GET", `/api/workspaces/${good.user}/mailboxes`);
    expect(goodBoxes.body.data[0].sender_check).toMatchObject({ verdict: "ok", spf: { result: "pass" } });

    const bare = await businessOn("sam@bare-roasters.example");
    const drafted = await api(bare.user, "POST", "/api/agents/outbound-emailer", {
      user_id: bare.user,
      lead_ids: [bare.lead?.id],
    });
    expect(drafted.status, JSON.stringify(drafted.body)).toBe(200);
    const ids = drafted.body.data.result.emails.map((email: { id: string }) => email.id);
    const refused = await api(bare.user, "POST", "/api/agents/outbound-emailer", {
      user_id: bare.user,
      event_ids: ids,
      mode: "send",
    });
    expect(refused.status, JSON.stringify(refused.body)).toBe(409);
    expect(refused.body.error.code).toBe("sender_not_authenticated");
    expect(refused.body.error.message).toContain("bare-roasters.example publishes no SPF record");
    expect(refused.body.error.details.check).toMatchObject({ verdict: "refused", dkim: { ok: false } });
    expect(bare.account.sent).toHaveLength(0);
    // Asked again, the day-old rule keeps the stored check: one alert, not one per attempt.
    await api(bare.user, "POST", "/api/agents/outbound-emailer", {
      user_id: bare.user,
      event_ids: ids,
      mode: "send",
    });
    const service = await import("../lib/db/service");
    const db = await import("../lib/db/schema");
    const sql = await service.serviceDb();
    const alerts = await sql.select().from(db.alerts).where(eq(db.alerts.workspace_id, bare.user));
    expect(alerts.filter((alert) => alert.type === "mailbox.sender_check_failed")).toHaveLength(1);
    const boxes = await api(bare.user, "GET", `/api/workspaces/${bare.user}/mailboxes`);
    expect(boxes.body.data[0].sender_check).toMatchObject({
      verdict: "refused",
      domain: "bare-roasters.example",
    });
    const [row] = await sql.select().from(db.emailEvents).where(eq(db.emailEvents.id, ids[0]));
    expect(row?.event_type).toBe("drafted");
  });

  it("a workspace with a refused mailbox and a good one sends from the good one only", async () => {
    const mixed = await businessOn("ann@bare-roasters.example");
    const goodAccount = google.addAccount("ann@good-roasters.example");
    const landed = await connectGoogle(dev, google, goodAccount, mixed.user);
    expect(landed.searchParams.get("google")).toBe("connected");
    const service = await import("../lib/db/service");
    const db = await import("../lib/db/schema");
    const sql = await service.serviceDb();
    const [second] = await sql
      .insert(db.leads)
      .values({
        workspace_id: mixed.user,
        user_id: mixed.user,
        name: "Joe",
        email: `joe-${randomUUID().slice(0, 6)}@bistro.example`,
        company: "Bistro",
      })
      .returning();
    const sent = await api(mixed.user, "POST", "/api/agents/outbound-emailer", {
      user_id: mixed.user,
      lead_ids: [mixed.lead?.id, second?.id],
      mode: "send",
    });
    expect(sent.status, JSON.stringify(sent.body)).toBe(200);
    await dev.broker.settle(200, 60_000);
    expect(goodAccount.sent).toHaveLength(2);
    expect(mixed.account.sent).toHaveLength(0);
  });
});
