import { createHmac, randomUUID } from "node:crypto";
import { domainToASCII } from "node:url";
import { and, eq } from "drizzle-orm";
import { simpleParser } from "mailparser";
import { describe, expect, it } from "vitest";
import { GET, POST } from "../api/unsubscribe";
import { emailSuppressions, leads } from "../lib/db/schema";
import { serviceDb } from "../lib/db/service";
import { withFooter } from "../lib/email/footer";
import { composeEmail, newMessageId, unsubscribeMailto } from "../lib/email/mime";
import { isSuppressed } from "../lib/email/suppression";
import { readUnsubscribeToken, unsubscribeToken, unsubscribeUrl } from "../lib/email/unsubscribe";
import { createUser, expectCompliantMessage } from "./support/helpers";

/** What every email carries for the 2024 bulk-sender rules, and the unsubscribe that honours it at once. */

async function leadFor(userId: string, email: string) {
  const db = await serviceDb();
  const [lead] = await db
    .insert(leads)
    .values({
      workspace_id: userId,
      user_id: userId,
      name: "Jane Cooper",
      email,
      company: "Northwind Roasters",
    })
    .returning();
  if (!lead) {
    throw new Error("no lead");
  }
  return lead;
}

const raw = async (path: string, init: RequestInit) => {
  const request = new Request(`http://app.test${path}`, init);
  return init.method === "POST" ? POST(request) : GET(request);
};

describe("the email as composed", () => {
  it("parses with a standard parser and carries the compliance and threading headers", async () => {
    const messageId = newMessageId("sam@northwind-roasters.com");
    const unsubscribe = {
      url: unsubscribeUrl({
        workspaceId: randomUUID(),
        userId: randomUUID(),
        leadId: randomUUID(),
        email: "jane@example.org",
      }),
      mailto: "mailto:unsubscribe@northwind-roasters.com?subject=unsubscribe",
    };
    const mime = await composeEmail({
      from: { name: "Sam from Northwind", address: "sam@northwind-roasters.com" },
      to: { name: "Jane Cooper", address: "jane@example.org" },
      subject: "Fresh beans for Harbour Café — a quick idea",
      text: "Hi Jane,\n\nA short note about weekly deliveries.\n",
      html: "<p>Hi Jane,</p><p>A short note about <b>weekly deliveries</b>.</p>",
      messageId,
      unsubscribe,
      inReplyTo: "<first@northwind-roasters.com>",
      references: ["<first@northwind-roasters.com>"],
    });
    const parsed = await simpleParser(mime);
    expect(parsed.messageId).toBe(messageId);
    expect(parsed.subject).toBe("Fresh beans for Harbour Café — a quick idea");
    expect(parsed.text).toContain("weekly deliveries");
    expect(parsed.html).toContain("<b>weekly deliveries</b>");
    expect(parsed.inReplyTo).toBe("<first@northwind-roasters.com>");
    expect(parsed.references).toBe("<first@northwind-roasters.com>");
    const header = (name: string) => parsed.headerLines.find((line) => line.key === name)?.line ?? "";
    expect(header("list-unsubscribe-post")).toBe("List-Unsubscribe-Post: List-Unsubscribe=One-Click");
    expect(header("list-unsubscribe")).toBe(
      `List-Unsubscribe: <${unsubscribe.url}>, <${unsubscribe.mailto}>`,
    );
    // Unfolded on the wire: a fold inside the angle brackets broke DKIM.
    expect(mime.toString("utf8").split("\r\n")).toContain(
      `List-Unsubscribe: <${unsubscribe.url}>, <${unsubscribe.mailto}>`,
    );
  });

  it("CRLF throughout, the sender's postal address in the footer, ASCII where a header needs it (an IDN sender)", async () => {
    const from = "verkauf@bücher-café.example";
    const sender = { name: "Bücher & Café <GmbH>", postalAddress: "Hauptstraße 1\n10115 Berlin\nGermany" };
    const url = "https://app.example.com/api/unsubscribe?token=abc.def";
    const body = withFooter(
      { text: "Hallo Jane,\nkurz zu Lieferungen.\r\nGrüße\rSam", html: "<p>Hallo</p>\n<p>Jane</p>" },
      sender,
      url,
    );
    const mime = await composeEmail({
      from: { name: sender.name, address: from },
      to: { address: "jane@example.org" },
      subject: "Lieferungen",
      ...body,
      messageId: newMessageId(from),
      unsubscribe: { url, mailto: unsubscribeMailto(from) },
    });
    const parsed = await expectCompliantMessage(mime, "Hauptstraße 1, 10115 Berlin, Germany");
    // IDNA (RFC 5891): the domain as punycode in the Message-ID and the mailto (RFC 6068 wants ASCII).
    expect(parsed.headers["message-id"]?.[0]).toMatch(/^<[0-9a-f-]{36}@xn--bcher-caf-[a-z0-9-]+\.example>$/);
    expect(parsed.headers["list-unsubscribe"]?.[0]).toBe(
      `<${url}>, <mailto:verkauf@${domainToASCII("bücher-café.example")}?subject=unsubscribe>`,
    );
    expect(parsed.from?.email).toBe(`verkauf@${domainToASCII("bücher-café.example")}`);
    // The sender's name is text in the HTML footer, never markup.
    expect(parsed.body.html).toContain("Bücher &#38; Café &#60;GmbH&#62;");
    expect(parsed.body.html).not.toContain("<GmbH>");
    expect(parsed.body.text).toContain(`Unsubscribe: ${url}`);
  });
});

describe("unsubscribe tokens", () => {
  it("round-trips and refuses anything altered", () => {
    const claim = {
      workspaceId: randomUUID(),
      userId: randomUUID(),
      leadId: null,
      email: "Jane@Example.org",
    };
    const token = unsubscribeToken(claim);
    expect(readUnsubscribeToken(token)).toEqual({ ...claim, email: "jane@example.org" });
    const [payload, signature] = token.split(".");
    const other = Buffer.from(
      JSON.stringify({ w: claim.workspaceId, u: claim.userId, l: null, e: "boss@example.org" }),
    ).toString("base64url");
    expect(readUnsubscribeToken(`${other}.${signature}`)).toBeUndefined();
    expect(readUnsubscribeToken(`${payload}.${"A".repeat(43)}`)).toBeUndefined();
    expect(readUnsubscribeToken(`${payload}`)).toBeUndefined();
    expect(readUnsubscribeToken("")).toBeUndefined();
  });

  it("a link sent before workspaces existed names the member, whose personal workspace is the sender", () => {
    const userId = randomUUID();
    const payload = Buffer.from(JSON.stringify({ u: userId, l: null, e: "jane@example.org" })).toString(
      "base64url",
    );
    const signature = createHmac("sha256", process.env.UNSUBSCRIBE_SECRET ?? "")
      .update(`unsubscribe.v1.${payload}`)
      .digest("base64url");
    expect(readUnsubscribeToken(`${payload}.${signature}`)).toEqual({
      workspaceId: userId,
      userId,
      leadId: null,
      email: "jane@example.org",
    });
  });
});

describe("GET and POST /api/unsubscribe", () => {
  // RFC 8058 §1 (https://www.rfc-editor.org/rfc/rfc8058#section-1): link scanners fetch URLs in
  // messages, so a GET must not unsubscribe; the action is a POST.
  it("the link shows a page whose button unsubscribes: a GET changes nothing, the POST suppresses once", async () => {
    const user = await createUser();
    const lead = await leadFor(user, "jane@harbour-cafe.example");
    const token = unsubscribeToken({
      workspaceId: user,
      userId: user,
      leadId: lead.id,
      email: lead.email ?? "",
    });

    for (let scan = 0; scan < 3; scan++) {
      const shown = await raw(`/api/unsubscribe?token=${token}`, { method: "GET" });
      expect(shown.status).toBe(200);
      expect(shown.headers.get("content-type")).toContain("text/html");
      expect(shown.headers.get("content-security-policy")).toContain("form-action 'self'");
      const html = await shown.text();
      expect(html).toContain('<form method="post" action="/api/unsubscribe?token=');
      expect(html).toContain('name="List-Unsubscribe" value="One-Click"');
    }
    expect(await isSuppressed(user, "JANE@harbour-cafe.example")).toBe(false);

    const shown = await (await raw(`/api/unsubscribe?token=${token}`, { method: "GET" })).text();
    const action = /action="([^"]+)"/.exec(shown)?.[1]?.replaceAll("&#61;", "=") ?? "";
    const form = new URLSearchParams({ "List-Unsubscribe": "One-Click", from: "page" }).toString();
    const post = {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: form,
    };
    const clicked = await raw(action, post);
    expect(clicked.status).toBe(200);
    expect(clicked.headers.get("content-type")).toContain("text/html");
    expect(await clicked.text()).toContain("jane@harbour-cafe.example will receive no more emails");
    expect(await isSuppressed(user, "JANE@harbour-cafe.example")).toBe(true);

    const again = await raw(action, post);
    expect(again.status).toBe(200);
    const db = await serviceDb();
    const rows = await db.select().from(emailSuppressions).where(eq(emailSuppressions.user_id, user));
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ reason: "unsubscribed", lead_id: lead.id, source: "unsubscribe page" });
    const [after] = await db
      .select()
      .from(leads)
      .where(and(eq(leads.id, lead.id)));
    expect(after?.status).toBe("unsubscribed");
    expect(after?.history).toEqual([expect.objectContaining({ event: "unsubscribed" })]);
  });

  // RFC 8058 §3.1: the receiver POSTs List-Unsubscribe=One-Click as multipart/form-data or
  // application/x-www-form-urlencoded; both must work.
  it("one-click as multipart/form-data suppresses too; another content type is a 415", async () => {
    const user = await createUser();
    const token = unsubscribeToken({
      workspaceId: user,
      userId: user,
      leadId: null,
      email: "ops@mill.example",
    });
    const json = await raw(`/api/unsubscribe?token=${token}`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ "List-Unsubscribe": "One-Click" }),
    });
    expect(json.status, await json.clone().text()).toBe(415);
    expect((await json.json()).error.code).toBe("unsupported_media_type");
    expect(await isSuppressed(user, "ops@mill.example")).toBe(false);

    const body = new FormData();
    body.set("List-Unsubscribe", "One-Click");
    const multipart = await raw(`/api/unsubscribe?token=${token}`, { method: "POST", body });
    expect(multipart.status, await multipart.clone().text()).toBe(200);
    expect((await multipart.json()).data).toEqual({ unsubscribed: true, already: false });
    expect(await isSuppressed(user, "ops@mill.example")).toBe(true);
  });

  it("one-click POST (RFC 8058) suppresses; a wrong body or token is a 400 and changes nothing", async () => {
    const user = await createUser();
    const token = unsubscribeToken({
      workspaceId: user,
      userId: user,
      leadId: null,
      email: "owner@bakery.example",
    });
    const form = { "content-type": "application/x-www-form-urlencoded" };

    const wrongBody = await raw(`/api/unsubscribe?token=${token}`, {
      method: "POST",
      headers: form,
      body: "unsubscribe=yes",
    });
    expect(wrongBody.status).toBe(400);
    expect((await wrongBody.json()).error.code).toBe("bad_request");
    const forged = await raw(`/api/unsubscribe?token=${token.slice(0, -2)}xx`, {
      method: "POST",
      headers: form,
      body: "List-Unsubscribe=One-Click",
    });
    expect(forged.status).toBe(400);
    expect(await isSuppressed(user, "owner@bakery.example")).toBe(false);

    const ok = await raw(`/api/unsubscribe?token=${token}`, {
      method: "POST",
      headers: form,
      body: "List-Unsubscribe=One-Click",
    });
    expect(ok.status).toBe(200);
    expect((await ok.json()).data).toEqual({ unsubscribed: true, already: false });
    expect(await isSuppressed(user, "owner@bakery.example")).toBe(true);
  });

  it("a broken link gets a page saying so, not an error trace", async () => {
    const response = await raw("/api/unsubscribe?token=nonsense", { method: "GET" });
    expect(response.status).toBe(400);
    expect(await response.text()).toContain("This link is not valid");
  });
});

describe("reading a reply", () => {
  it("takes the sender's own words up to the quote, and a lower-case 'on' is only a word", async () => {
    const { asksToUnsubscribe, isUnsubscribeRequest, ownText } = await import("../lib/email/reply-text");
    const reply = "Not now, we are focused on Q1. Please unsubscribe me. On Tue, 6 Jan 2026 Sam wrote: > Hi";
    expect(ownText(reply)).toBe("Not now, we are focused on Q1. Please unsubscribe me.");
    expect(asksToUnsubscribe("Re: coffee", reply)).toBe(true);
    expect(
      asksToUnsubscribe("Re: coffee", "Yes please. On Mon Sam wrote: > Not interested? Unsubscribe: x"),
    ).toBe(false);
    const headers = (values: Record<string, string>) => (name: string) => values[name] ?? "";
    expect(
      isUnsubscribeRequest(headers({ Subject: "unsubscribe", "Authentication-Results": "mx; dkim=pass" })),
    ).toBe(true);
    expect(
      isUnsubscribeRequest(
        headers({ Subject: "Please unsubscribe", "Authentication-Results": "mx; dkim=pass" }),
      ),
    ).toBe(false);
    expect(
      isUnsubscribeRequest(headers({ Subject: "unsubscribe", "Authentication-Results": "mx; spf=fail" })),
    ).toBe(false);
  });
});
