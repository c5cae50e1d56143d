/**
 * The sending domain's DNS, checked the way receivers will read it (mailauth, a maintained
 * implementation of RFC 7208 SPF, RFC 6376 DKIM key records and DMARC, through the one resolver):
 * - MX: replies need somewhere to go.
 * - SPF: evaluated for an address Gmail sends from; `pass` means the domain authorises Google.
 * - DKIM: the key record of the selector (Google Workspace's default is `google`).
 * - DMARC: the policy record (the domain's own or its organisational domain's).
 * Gmail and Yahoo require SPF or DKIM of every sender, and DMARC of bulk senders: a domain with
 * neither SPF for Google nor a DKIM key cannot send; one without DMARC sends with a warning.
 */
import { getConfig } from "../config";
import { dnsResolver } from "../dns";

/** An address Gmail's servers send from (inside 209.85.128.0/17 of Google's published _netblocks). */
export const googleProbeIp = "209.85.220.41";

export interface SenderCheck {
  domain: string;
  checked_at: string;
  /** unknown: a lookup failed (not "no such record"), so nothing can be said yet. */
  verdict: "ok" | "warning" | "refused" | "unknown";
  problems: string[];
  mx: { ok: boolean; hosts: string[] };
  spf: { ok: boolean; result: string; record: string | null };
  dkim: { ok: boolean; selector: string; error: string | null };
  dmarc: { ok: boolean; policy: string | null; record: string | null };
}

type Lookup = (name: string, type: string) => Promise<unknown>;

/** A failed lookup as receivers treat it: NXDOMAIN and NODATA mean "none", anything else is unknown. */
const missing = (error: unknown) =>
  ["ENOTFOUND", "ENODATA", "ENONAME"].includes((error as { code?: string }).code ?? "");

/**
 * The check, or `unknown` when DNS itself failed (a timeout, a refused query): receivers would
 * answer temperror then, and the next check tries again.
 */
export async function checkSendingDomain(
  address: string,
  options: { selector?: string; dnsServers?: string } = {},
): Promise<SenderCheck> {
  try {
    return await lookUpSendingDomain(address, options);
  } catch (error) {
    const selector = options.selector ?? getConfig().EMAIL_DKIM_SELECTOR;
    return {
      domain: (address.split("@")[1] ?? "").toLowerCase(),
      checked_at: new Date().toISOString(),
      verdict: "unknown",
      problems: [`DNS lookup failed: ${(error as Error).message ?? String(error)}`],
      mx: { ok: false, hosts: [] },
      spf: { ok: false, result: "temperror", record: null },
      dkim: { ok: false, selector, error: null },
      dmarc: { ok: false, policy: null, record: null },
    };
  }
}

async function lookUpSendingDomain(
  address: string,
  options: { selector?: string; dnsServers?: string } = {},
): Promise<SenderCheck> {
  const selector = options.selector ?? getConfig().EMAIL_DKIM_SELECTOR;
  const domain = (address.split("@")[1] ?? "").toLowerCase();
  const resolver = dnsResolver(options.dnsServers ?? getConfig().DNS_SERVERS);
  const lookup: Lookup = (name, type) => resolver.resolve(name, type as "TXT");
  // Loaded here only: the check runs once a day per mailbox, not on every send.
  const [{ spf }, { getPublicKey }, { default: getDmarcRecord }] = await Promise.all([
    import("mailauth/lib/spf/index.js"),
    import("mailauth/lib/tools.js"),
    import("mailauth/lib/dmarc/get-dmarc-record.js"),
  ]);
  const problems: string[] = [];

  const hosts = await resolver.resolveMx(domain).then(
    (records) => records.map((record) => record.exchange),
    (error: unknown) => (missing(error) ? [] : Promise.reject(error)),
  );
  if (hosts.length === 0) {
    problems.push(`${domain} has no MX records: replies and bounces cannot reach it`);
  }

  const spfResult = await spf({
    ip: googleProbeIp,
    sender: `postmaster@${domain}`,
    helo: "mail-sor-f41.google.com",
    mta: "sender-check",
    resolver: lookup,
  } as Parameters<typeof spf>[0]);
  const spfStatus = String((spfResult as { status?: { result?: string } }).status?.result ?? "none");
  const spfRecord = (spfResult as { rr?: string }).rr ?? null;
  if (spfStatus === "temperror") {
    throw new Error("the SPF lookup failed (temperror)");
  }
  const spfOk = spfStatus === "pass";
  if (!spfOk) {
    problems.push(
      spfStatus === "none"
        ? `${domain} publishes no SPF record`
        : `${domain}'s SPF does not authorise Google's servers (${spfStatus}): add include:_spf.google.com`,
    );
  }

  let dkimError: string | null = null;
  try {
    await getPublicKey("DKIM", `${selector}._domainkey.${domain}`, 1024, lookup);
  } catch (error) {
    dkimError = missing(error) ? "no key record" : ((error as Error).message ?? "invalid key record");
    problems.push(`${domain} has no usable DKIM key for selector "${selector}" (${dkimError})`);
  }

  const dmarc = await getDmarcRecord(domain, lookup).catch((error: unknown) =>
    missing(error) ? (false as const) : Promise.reject(error),
  );
  if (!dmarc) {
    problems.push(`${domain} publishes no DMARC record (bulk senders need one: v=DMARC1; p=none at least)`);
  }

  const authenticated = spfOk || dkimError === null;
  return {
    domain,
    checked_at: new Date().toISOString(),
    verdict: !authenticated ? "refused" : problems.length > 0 ? "warning" : "ok",
    problems,
    mx: { ok: hosts.length > 0, hosts },
    spf: { ok: spfOk, result: spfStatus, record: spfRecord },
    dkim: { ok: dkimError === null, selector, error: dkimError },
    dmarc: {
      ok: Boolean(dmarc),
      policy: dmarc ? (dmarc.p ?? null) : null,
      record: dmarc ? (dmarc.rr ?? null) : null,
    },
  };
}
