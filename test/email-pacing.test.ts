import { randomUUID } from "node:crypto";
import { existsSync, mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { simpleParser } from "mailparser";
import { describe, expect, it } from "vitest";
import { earliestSlot, pacingViolations, planSlots } from "../lib/email/pacing";
import { withFreshModules } from "./support/fresh";
import { createUser } from "./support/helpers";

const rules = { dailyCap: 5, hourlyCap: 2, minGapMs: 60_000, jitterMs: 30_000 };
const hour = 3_600_000;

describe("pacing", () => {
  it("keeps the gap, the hourly cap and the daily cap over rolling windows", () => {
    expect(earliestSlot([], 1000, rules)).toBe(1000);
    expect(earliestSlot([0], 1000, rules)).toBe(60_000);
    // Two in the last hour: the next waits until the older one is an hour old.
    expect(earliestSlot([0, 120_000], 200_000, rules)).toBe(hour + 1);
    const day = planSlots([], 12, 0, rules, () => 0.5);
    expect(pacingViolations(day, rules)).toEqual([]);
    expect(day[5]).toBeGreaterThanOrEqual(24 * hour);
  });

  it("finds every broken rule in a list of sends", () => {
    expect(pacingViolations([0, 1000], rules)).toEqual(["gap of 1000 ms before send 1"]);
    expect(pacingViolations([0, 70_000, 140_000], rules)).toEqual([
      "3 sends within an hour ending at send 2",
    ]);
  });

  it("places a new batch after sends already planned, never between them too closely", () => {
    const planned = planSlots([], 3, 0, { ...rules, hourlyCap: 100, dailyCap: 100 }, () => 0);
    const more = planSlots(planned, 3, 0, { ...rules, hourlyCap: 100, dailyCap: 100 }, () => 0);
    expect(pacingViolations([...planned, ...more], { ...rules, hourlyCap: 100, dailyCap: 100 })).toEqual([]);
  });
});

describe("outbox mode (no Gmail credentials)", () => {
  it("writes the exact MIME to the event and to OUTBOX_DIR, marked as not sent", async () => {
    const outbox = mkdtempSync(join(tmpdir(), "aat-outbox-"));
    const restore = await withFreshModules({
      OUTBOX_DIR: outbox,
      GMAIL_SENDER: undefined,
      GMAIL_OAUTH_REFRESH_TOKEN: undefined,
      GMAIL_CREDENTIALS_JSON: undefined,
      EMAIL_MIN_GAP_SECONDS: "0",
      EMAIL_GAP_JITTER_SECONDS: "0",
    });
    try {
      const { serviceDb } = await import("../lib/db/service");
      const { emailEvents, leads } = await import("../lib/db/schema");
      const { deliverEmail } = await import("../lib/email/deliver");
      const { eq } = await import("drizzle-orm");
      const user = await createUser();
      const db = await serviceDb();
      const [lead] = await db
        .insert(leads)
        .values({
          workspace_id: user,
          user_id: user,
          email: `ada-${randomUUID().slice(0, 6)}@example.org`,
          name: "Ada",
        })
        .returning();
      const { sendingMailbox } = await import("../lib/email/mailboxes");
      const mailbox = await sendingMailbox(user);
      expect(mailbox.kind).toBe("outbox");
      const [event] = await db
        .insert(emailEvents)
        .values({
          workspace_id: user,
          user_id: user,
          mailbox_id: mailbox.id,
          lead_id: lead?.id,
          event_type: "queued",
          to_email: lead?.email,
          subject: "Hello Ada",
          body_text: "Hi Ada",
          body_html: "<p>Hi Ada</p>",
          message_id: `<${randomUUID()}@localhost.localdomain>`,
        })
        .returning();
      const result = await deliverEmail(event?.id ?? "");
      expect(result.outcome).toBe("outboxed");
      const [row] = await db
        .select()
        .from(emailEvents)
        .where(eq(emailEvents.id, event?.id ?? ""));
      expect(row?.event_type).toBe("outboxed");
      expect(row?.error).toContain("Not sent");
      const file = join(outbox, `${event?.id}.eml`);
      expect(existsSync(file)).toBe(true);
      const mime = readFileSync(file, "utf8");
      expect(row?.metadata).toMatchObject({ mime });
      const parsed = await simpleParser(mime);
      expect(parsed.messageId).toBe(row?.message_id);
      expect(parsed.subject).toBe("Hello Ada");
    } finally {
      await restore();
    }
  });
});
