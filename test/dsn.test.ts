import { describe, expect, it } from "vitest";
import { classifyBounce, deliveryStatusBlocks, kindOfStatus } from "../lib/email/dsn";
import { dsnFixture } from "./support/dsn";

/**
 * Bounce fixtures in the formats the big senders' MTAs write (test/fixtures/dsn), each following its
 * documentation:
 * - Gmail: multipart/report with a message/delivery-status part, the SMTP reply in Diagnostic-Code;
 *   codes from Google's "SMTP errors and codes" (https://support.google.com/a/answer/3726730), 5.4.5
 *   for the sending limits (https://support.google.com/a/answer/166852).
 * - Exchange Online: "Undeliverable:" NDRs with 5.1.10 RecipientNotFound (Microsoft Learn, "Email
 *   non-delivery reports and SMTP errors in Exchange Online",
 *   https://learn.microsoft.com/exchange/mail-flow-best-practices/non-delivery-reports-in-exchange-online/non-delivery-reports-in-exchange-online),
 *   and an automatic reply (Auto-Submitted, RFC 3834) whose subject says "Undeliverable".
 * - Postfix: bounce(8) reports "Undelivered Mail Returned to Sender" and "Delayed Mail (still being
 *   retried)" with X-Postfix fields (https://www.postfix.org/DSN_README.html, https://www.postfix.org/bounce.5.html).
 * Status codes per RFC 3463; report structure per RFC 3464.
 */
const fixture = (name: string) =>
  new Uint8Array(Buffer.from(dsnFixture(name, "jane@example-recipient.com", "m-1@northwind-roasters.com")));

describe("delivery-status notifications", () => {
  it.each([
    ["gmail-hard-5.1.1.eml", "hard", "5.1.1", "failed"],
    ["exchange-hard-5.1.10.eml", "hard", "5.1.10", "failed"],
    ["postfix-soft-mailbox-full.eml", "soft", "5.2.2", "failed"],
    ["postfix-delayed-4.4.1.eml", "soft", "4.4.1", "delayed"],
    ["postfix-blocked-5.7.1.eml", "blocked", "5.7.1", "failed"],
    ["gmail-quota-5.4.5.eml", "quota", "5.4.5", "failed"],
  ])("%s is %s (%s)", async (name, kind, status, action) => {
    const verdict = await classifyBounce(fixture(name));
    expect(verdict).toMatchObject({ kind, status, action, recipient: "jane@example-recipient.com" });
    expect(verdict.diagnostic).toBeTruthy();
  });

  it("a message that cannot be parsed, or a report without a code, is unknown (it suppresses nobody)", async () => {
    const broken = new Uint8Array([0xff, 0xfe, 0x00, 0x0d, 0x0a, 0x0d, 0x0a, 0x80]);
    expect(["unknown", "auto_reply"]).toContain((await classifyBounce(broken)).kind);
    const bare = dsnFixture("postfix-blocked-5.7.1.eml", "jane@example-recipient.com", "m-1@x.example")
      .replace(/^Status: 5\.7\.1\r\n/m, "")
      .replace(/^Diagnostic-Code: .*\r\n/m, "");
    expect((await classifyBounce(new Uint8Array(Buffer.from(bare)))).kind).toBe("unknown");
  });

  it("an automatic reply is never a bounce, whatever its subject says", async () => {
    expect((await classifyBounce(fixture("exchange-auto-reply.eml"))).kind).toBe("auto_reply");
  });

  it("reads folded fields and every recipient block (RFC 3464 §2.1)", () => {
    const blocks = deliveryStatusBlocks(
      "Reporting-MTA: dns; mx.example\r\n\r\nFinal-Recipient: rfc822; a@x.example\r\nAction: delivered\r\nStatus: 2.0.0\r\n\r\nFinal-Recipient: rfc822; b@x.example\r\nAction: failed\r\nStatus: 5.1.1\r\nDiagnostic-Code: smtp; 550 5.1.1\r\n  no such user\r\n",
    );
    expect(blocks).toHaveLength(3);
    expect(blocks[2]).toMatchObject({ action: "failed", "diagnostic-code": "smtp; 550 5.1.1 no such user" });
  });

  it("maps enhanced status codes as RFC 3463 defines them", () => {
    expect(kindOfStatus("5.1.1")).toBe("hard"); // bad destination mailbox address
    expect(kindOfStatus("5.1.2")).toBe("hard"); // bad destination system address
    expect(kindOfStatus("5.2.1")).toBe("hard"); // mailbox disabled
    expect(kindOfStatus("5.4.4")).toBe("hard"); // unable to route
    expect(kindOfStatus("5.2.2")).toBe("soft"); // mailbox full
    expect(kindOfStatus("4.2.2")).toBe("soft");
    expect(kindOfStatus("5.1.1", "delayed")).toBe("soft");
    expect(kindOfStatus("5.7.26")).toBe("blocked"); // Gmail: unauthenticated sender
    expect(kindOfStatus("5.2.3")).toBe("blocked"); // message too big: the message, not the address
    expect(kindOfStatus("5.4.5")).toBe("quota");
    expect(kindOfStatus("no code here")).toBe("unknown");
  });
});
