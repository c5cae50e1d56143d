import { generateKeyPairSync } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { checkSendingDomain, googleProbeIp } from "../lib/email/sender-check";
import { startDnsStandIn } from "./stand-ins/dns";

/**
 * Sending-domain checks against the DNS stand-in, with records as the providers document them:
 * - Google Workspace's SPF: `v=spf1 include:_spf.google.com ~all`
 *   (https://support.google.com/a/answer/10684623); Google's _spf.google.com chain is served here in
 *   its published shape (an include of _netblocks.google.com, whose ip4 ranges hold Gmail's
 *   outbound addresses; the probe address lies in 209.85.128.0/17).
 * - DKIM: a TXT record `v=DKIM1; k=rsa; p=<key>` at `google._domainkey` (RFC 6376 §3.6.1; Google's
 *   default selector, https://support.google.com/a/answer/174124), 2048-bit, split into 255-octet
 *   strings as DNS hosts publish it.
 * - DMARC: `v=DMARC1; p=none; rua=mailto:...` at `_dmarc` (RFC 7489 §6.1,
 *   https://support.google.com/a/answer/2466580).
 */
const key = generateKeyPairSync("rsa", { modulusLength: 2048 })
  .publicKey.export({ type: "spki", format: "der" })
  .toString("base64");
const dkim = `v=DKIM1; k=rsa; p=${key}`;
const googleSpf = "v=spf1 include:_spf.google.com ~all";

let dns: Awaited<ReturnType<typeof startDnsStandIn>>;

beforeAll(async () => {
  dns = await startDnsStandIn(
    {
      "good.example": "aspmx.l.google.com",
      "nospf.example": "aspmx.l.google.com",
      "otherspf.example": "mx.otherhost.example",
      "nodmarc.example": "aspmx.l.google.com",
      "nodkim.example": "aspmx.l.google.com",
      "bare.example": "mx.bare.example",
    },
    {
      txt: {
        "_spf.google.com": ["v=spf1 include:_netblocks.google.com ~all"],
        "_netblocks.google.com": ["v=spf1 ip4:35.190.247.0/24 ip4:64.233.160.0/19 ip4:209.85.128.0/17 ~all"],
        "good.example": [googleSpf, "google-site-verification=abc"],
        "google._domainkey.good.example": [dkim],
        "_dmarc.good.example": ["v=DMARC1; p=none; rua=mailto:dmarc@good.example"],
        // SPF missing, but DKIM signs: Gmail's rule is SPF or DKIM, so it may send (with warnings).
        "google._domainkey.nospf.example": [dkim],
        "_dmarc.nospf.example": ["v=DMARC1; p=quarantine"],
        // SPF for another provider only, no DKIM: refused.
        "otherspf.example": ["v=spf1 include:spf.otherhost.example -all"],
        "spf.otherhost.example": ["v=spf1 ip4:198.51.100.0/24 -all"],
        "_dmarc.otherspf.example": ["v=DMARC1; p=reject"],
        "nodmarc.example": [googleSpf],
        "google._domainkey.nodmarc.example": [dkim],
        "nodkim.example": [googleSpf],
        "_dmarc.nodkim.example": ["v=DMARC1; p=none"],
      },
      a: { "mx.bare.example": ["192.0.2.25"] },
    },
  );
});

afterAll(async () => {
  await dns?.close();
});

const check = (address: string) =>
  checkSendingDomain(address, { dnsServers: dns.server, selector: "google" });

describe("sending-domain checks", () => {
  it("a domain with SPF for Google, a DKIM key and DMARC is ok", async () => {
    const result = await check("sam@good.example");
    expect(result).toMatchObject({
      verdict: "ok",
      problems: [],
      mx: { ok: true, hosts: ["aspmx.l.google.com"] },
      spf: { ok: true, result: "pass", record: googleSpf },
      dkim: { ok: true, selector: "google", error: null },
      dmarc: { ok: true, policy: "none" },
    });
    expect(googleProbeIp.startsWith("209.85.")).toBe(true);
  });

  it("no SPF but a DKIM key: may send, with the missing SPF named", async () => {
    const result = await check("sam@nospf.example");
    expect(result.verdict).toBe("warning");
    expect(result.spf).toMatchObject({ ok: false, result: "none" });
    expect(result.dkim.ok).toBe(true);
    expect(result.problems).toEqual(["nospf.example publishes no SPF record"]);
  });

  it("SPF that does not authorise Google and no DKIM key: refused, saying what to add", async () => {
    const result = await check("sam@otherspf.example");
    expect(result.verdict).toBe("refused");
    expect(result.spf.ok).toBe(false);
    expect(result.spf.result).toBe("fail");
    expect(result.problems.join(" ")).toContain("add include:_spf.google.com");
    expect(result.dkim).toMatchObject({ ok: false, error: "no key record" });
  });

  it("no DMARC: sends with a warning", async () => {
    const result = await check("sam@nodmarc.example");
    expect(result.verdict).toBe("warning");
    expect(result.dmarc).toEqual({ ok: false, policy: null, record: null });
    expect(result.problems).toEqual([expect.stringContaining("publishes no DMARC record")]);
  });

  it("DKIM missing for the selector but SPF for Google: sends, the missing key named", async () => {
    const result = await check("sam@nodkim.example");
    expect(result.verdict).toBe("warning");
    expect(result.spf.ok).toBe(true);
    expect(result.problems).toEqual([expect.stringContaining('no usable DKIM key for selector "google"')]);
  });

  it("nothing at all: refused, every missing record named", async () => {
    const result = await check("sam@bare.example");
    expect(result.verdict).toBe("refused");
    expect(result.problems).toHaveLength(3);
  });
});
