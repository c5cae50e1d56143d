import { lookup } from "node:dns/promises";
import ipaddr from "ipaddr.js";

/**
 * Only public web addresses: http(s) on ports 80/443, no credentials in the URL, no internal host
 * names, and every address the name resolves to a public unicast address (IPv4-mapped IPv6 unwrapped
 * and checked again). Literal addresses in odd encodings (2130706433, 0177.0.0.1, 0x7f.1) reach us
 * already normalised by the WHATWG URL parser.
 */
export class BlockedAddressError extends Error {
  constructor(
    readonly url: string,
    readonly reason: string,
  ) {
    super(`Blocked ${url}: ${reason}`);
    this.name = "BlockedAddressError";
  }
}

const blockedNames = [
  /^localhost$/i,
  /\.localhost$/i,
  /^metadata\.google\.internal$/i,
  /\.internal$/i,
  /\.local$/i,
];

export interface GuardOptions {
  /** Exact `host:port` pairs let through unchecked: the tests' own fixture sites, never production. */
  allow?: ReadonlySet<string>;
  resolve?: (hostname: string) => Promise<string[]>;
}

const defaultResolve = async (hostname: string) =>
  (await lookup(hostname, { all: true, verbatim: true })).map((entry) => entry.address);

/** Global unicast IPv6 (RFC 4291 §2.4): everything else is reserved, deprecated or not routed. */
const globalUnicast = ipaddr.parseCIDR("2000::/3");

/**
 * Public unicast only. IPv4-mapped IPv6 is checked as the IPv4 it carries; any other IPv6 must lie in
 * 2000::/3 and in no special range of it (IPv4-compatible `::a.b.c.d`, `::/96`, `1::1` or `4000::1`
 * fall outside it; 6to4 and Teredo, which tunnel to an embedded IPv4, are ranges of their own).
 */
export function isPublicAddress(address: string): boolean {
  if (!ipaddr.isValid(address)) {
    return false;
  }
  const parsed = ipaddr.parse(address);
  if (parsed.kind() === "ipv4") {
    return parsed.range() === "unicast";
  }
  const v6 = parsed as ipaddr.IPv6;
  if (v6.isIPv4MappedAddress()) {
    return v6.toIPv4Address().range() === "unicast";
  }
  return v6.match(globalUnicast) && v6.range() === "unicast";
}

/** A host name as DNS sees it: `localhost.` is `localhost` (the root label is implicit). */
const canonicalHost = (hostname: string) =>
  hostname
    .replace(/^\[|\]$/g, "")
    .replace(/\.+$/, "")
    .toLowerCase();

/**
 * What can be told about a URL without resolving it: the reason it can never be fetched, or
 * undefined. Used at the API boundary; the fetch itself checks again, resolved addresses included.
 */
export function staticUrlProblem(input: string, allow?: ReadonlySet<string>): string | undefined {
  let url: URL;
  try {
    url = new URL(input);
  } catch {
    return "not a URL";
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    return `scheme ${url.protocol} is not allowed`;
  }
  const hostname = canonicalHost(url.hostname);
  const port = url.port || (url.protocol === "https:" ? "443" : "80");
  if (allow?.has(`${hostname}:${port}`)) {
    return undefined;
  }
  if (url.username || url.password) {
    return "credentials in the URL";
  }
  if (port !== "80" && port !== "443") {
    return `port ${port} is not allowed`;
  }
  if (blockedNames.some((pattern) => pattern.test(hostname))) {
    return `host ${hostname} is internal`;
  }
  if (ipaddr.isValid(hostname) && !isPublicAddress(hostname)) {
    return `${hostname} is not a public address`;
  }
  return undefined;
}

/** Resolves and checks a URL; returns the addresses it may be fetched from. */
export async function assertPublicUrl(input: string, options: GuardOptions = {}): Promise<string[]> {
  const problem = staticUrlProblem(input, options.allow);
  if (problem) {
    throw new BlockedAddressError(input, problem);
  }
  const url = new URL(input);
  const hostname = canonicalHost(url.hostname);
  const port = url.port || (url.protocol === "https:" ? "443" : "80");
  if (options.allow?.has(`${hostname}:${port}`)) {
    return [hostname];
  }
  const addresses = ipaddr.isValid(hostname)
    ? [hostname]
    : await (options.resolve ?? defaultResolve)(hostname);
  if (addresses.length === 0) {
    throw new BlockedAddressError(input, "the name does not resolve");
  }
  const internal = addresses.find((address) => !isPublicAddress(address));
  if (internal) {
    throw new BlockedAddressError(input, `${hostname} resolves to a non-public address (${internal})`);
  }
  return addresses;
}
