import { createServer, type Server } from "node:http";
import { hostname } from "node:os";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BlockedAddressError } from "../lib/scrape/address-guard";
import { createGuardedFetcher, FetchLimitError } from "../lib/scrape/fetch";

/** The one way the scraper reaches the web: every hop checked, at connect time too; size and time capped. */
let server: Server;
let origin: string;
let allow: Set<string>;
const hits: string[] = [];

beforeAll(async () => {
  server = createServer((req, res) => {
    hits.push(req.url ?? "");
    if (req.url === "/big") {
      res.end("x".repeat(50_000));
    } else if (req.url === "/slow") {
      // Never answers (afterAll drops the connection): slower than any timeout, whatever the
      // machine's speed, so the time cap is what ends the fetch, never a race with a reply.
    } else if (req.url?.startsWith("/loop")) {
      res.writeHead(302, { location: `/loop${Number(req.url.slice(5) || 0) + 1}` });
      res.end();
    } else if (req.url === "/to-internal") {
      res.writeHead(302, { location: "http://127.0.0.1/admin" });
      res.end();
    } else {
      res.end(`hello ${req.headers["user-agent"]}`);
    }
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.2", () => resolve()));
  const port = (server.address() as { port: number }).port;
  origin = `http://127.0.0.2:${port}`;
  allow = new Set([`127.0.0.2:${port}`]);
});

afterAll(() => {
  server.closeAllConnections();
  server.close();
});

const fetcher = (extra: Partial<Parameters<typeof createGuardedFetcher>[0]> = {}) =>
  createGuardedFetcher({
    userAgent: "AIAgentTeamBot/test",
    maxBytes: 10_000,
    // Far above what a loopback request needs on a loaded machine; only the time-cap test, against
    // a page that never answers, sets a short one.
    timeoutMs: 60_000,
    allow,
    ...extra,
  });

describe("guarded fetcher", () => {
  it("fetches an allowed page with our User-Agent", async () => {
    const f = fetcher();
    const response = await f.fetch(`${origin}/`);
    expect(response.status).toBe(200);
    expect(response.body.toString()).toBe("hello AIAgentTeamBot/test");
    await f.close();
  });

  it("caps size and time", async () => {
    const f = fetcher();
    await expect(f.fetch(`${origin}/big`)).rejects.toMatchObject({
      name: "FetchLimitError",
      kind: "too_large",
    });
    await f.close();
    const short = fetcher({ timeoutMs: 1000 });
    const late = await short.fetch(`${origin}/slow`).catch((error: unknown) => error);
    expect(late).toBeInstanceOf(FetchLimitError);
    expect(late).toMatchObject({ kind: "timeout" });
    await short.close();
  });

  it("checks every redirect hop and stops after five", async () => {
    const f = fetcher();
    await expect(f.fetchFollowing(`${origin}/to-internal`)).rejects.toBeInstanceOf(BlockedAddressError);
    await expect(f.fetchFollowing(`${origin}/loop0`)).rejects.toThrow(/more than 5 redirects/);
    expect(hits.filter((hit) => hit.startsWith("/loop"))).toHaveLength(6);
    await f.close();
  });

  it.each([
    "http://127.0.0.1/",
    "http://2130706433/",
    "http://0x7f.1/",
    "http://[::1]/",
    "http://[::ffff:127.0.0.1]/",
    "http://169.254.169.254/latest/meta-data/",
    "http://[fd00::1]/",
    "http://10.1.2.3/",
    "http://localhost/",
    "http://metadata.google.internal/",
    // IPv4-compatible IPv6 (::/96, deprecated by RFC 4291 §2.5.5.1) carrying loopback, link-local, private.
    "http://[::127.0.0.1]/",
    "http://[::a9fe:a9fe]/",
    "http://[::10.0.0.1]/",
    // Outside global unicast 2000::/3 (RFC 4291 §2.4).
    "http://[1::1]/",
    "http://[4000::1]/",
    // 6to4 and Teredo tunnel to an IPv4 inside them.
    "http://[2002:7f00:1::1]/",
    "http://[2001:0:4136:e378:8000:63bf:3fff:fdd2]/",
    // The root label spelled out: the same names.
    "http://localhost./",
    "http://metadata.google.internal./",
    "http://LOCALHOST../",
    "https://example.com:8443/",
    "ftp://example.com/",
    "http://user:pass@example.com/",
  ])("refuses %s before connecting", async (url) => {
    const f = fetcher({ allow: new Set() });
    await expect(f.fetch(url)).rejects.toBeInstanceOf(BlockedAddressError);
    await f.close();
  });

  it("lets a global unicast IPv6 and a mapped public IPv4 through the static check", async () => {
    const { staticUrlProblem } = await import("../lib/scrape/address-guard");
    expect(staticUrlProblem("http://[2606:4700:4700::1111]/")).toBeUndefined();
    expect(staticUrlProblem("http://[::ffff:93.184.215.14]/")).toBeUndefined();
    expect(staticUrlProblem("http://example.com./")).toBeUndefined();
  });

  it("refuses a name that resolves to a private address at connect time (DNS rebinding)", async () => {
    // The pre-flight check is told the name is public; the connection's own lookup finds loopback.
    const f = fetcher({ allow: new Set(), resolve: async () => ["93.184.215.14"] });
    await expect(f.fetch(`http://${hostname()}/`)).rejects.toMatchObject({
      name: "BlockedAddressError",
      reason: expect.stringMatching(/non-public address/),
    });
    await f.close();
  });
});
