import { describe, expect, it } from "vitest";
import { assertPublicUrl, BlockedAddressError, isPublicAddress } from "../lib/scrape/address-guard";
import { extractContacts, isRoleAddress } from "../lib/scrape/contacts";
import { parseRobots, robotsToken, userAgent } from "../lib/scrape/robots";
import { normalizeUrl, sameSite, siteOf } from "../lib/scrape/url";

describe("URL keys", () => {
  it("normalises scheme, host, port, fragment, tracking parameters and parameter order", () => {
    expect(normalizeUrl("HTTPS://Example.COM:443/Team/?utm_source=x&b=2&a=1#top")).toBe(
      "https://example.com/Team?a=1&b=2",
    );
    expect(normalizeUrl("http://example.com:80/")).toBe("http://example.com/");
    expect(normalizeUrl("https://user:pw@example.com/a?gclid=1")).toBe("https://example.com/a");
  });

  it("treats www. and the bare host as one site", () => {
    expect(siteOf("https://www.Example.com/x")).toBe("example.com");
    expect(sameSite("https://www.example.com/a", "http://example.com/b")).toBe(true);
    expect(sameSite("https://example.com", "https://evil-example.com")).toBe(false);
  });
});

describe("address guard", () => {
  const publicDns = async () => ["93.184.215.14"];

  it.each([
    "http://127.0.0.1/",
    "http://[::1]/",
    "http://169.254.169.254/latest/meta-data",
    "http://[::ffff:169.254.169.254]/",
    "http://2130706433/",
    "http://0177.0.0.1/",
    "http://0x7f.1/",
    "http://0.0.0.0/",
    "http://10.0.0.5/",
    "http://172.16.3.4/",
    "http://192.168.1.1/",
    "http://100.64.0.1/",
    "http://[fd00:ec2::254]/",
    "http://[fe80::1]/",
    "http://localhost/",
    "http://db.localhost/",
    "http://metadata.google.internal/",
    "file:///etc/passwd",
    "ftp://example.com/",
    "http://example.com:8080/",
    "http://user:pw@example.com/",
  ])("blocks %s before any connection", async (url) => {
    await expect(assertPublicUrl(url, { resolve: publicDns })).rejects.toBeInstanceOf(BlockedAddressError);
  });

  it("blocks a public-looking name that resolves to a private address (DNS rebinding, nip.io)", async () => {
    await expect(
      assertPublicUrl("http://127.0.0.1.nip.io/", { resolve: async () => ["127.0.0.1"] }),
    ).rejects.toThrow(/non-public address \(127\.0\.0\.1\)/);
    await expect(
      assertPublicUrl("https://shop.example/", { resolve: async () => ["93.184.215.14", "10.1.2.3"] }),
    ).rejects.toThrow(/10\.1\.2\.3/);
  });

  it("allows public addresses, and exact allow-listed host:port pairs (test fixtures only)", async () => {
    await expect(assertPublicUrl("https://example.com/team", { resolve: publicDns })).resolves.toEqual([
      "93.184.215.14",
    ]);
    await expect(
      assertPublicUrl("http://127.0.0.1:41234/", { allow: new Set(["127.0.0.1:41234"]) }),
    ).resolves.toEqual(["127.0.0.1"]);
    await expect(
      assertPublicUrl("http://127.0.0.1:41235/", { allow: new Set(["127.0.0.1:41234"]) }),
    ).rejects.toThrow();
  });

  it("classifies addresses by range", () => {
    expect(isPublicAddress("8.8.8.8")).toBe(true);
    expect(isPublicAddress("2606:4700::1111")).toBe(true);
    expect(isPublicAddress("::ffff:10.0.0.1")).toBe(false);
    expect(isPublicAddress("not an address")).toBe(false);
  });
});

describe("robots.txt", () => {
  const robotsUrl = "https://example.com/robots.txt";
  const robots = `User-agent: *\nDisallow: /private\n\nUser-agent: ${robotsToken}\nDisallow: /team/secret\nCrawl-delay: 7\n`;
  /** The rules a 200 with this body gives, for a path of example.com. */
  function allowed(body: string, path: string, token = robotsToken): boolean {
    const rules = parseRobots(robotsUrl, 200, body.replaceAll("FooBot", token));
    if (!rules.available) {
      throw new Error("a 200 is a verdict");
    }
    return rules.allowed(`https://example.com${path}`);
  }

  it("applies the group for our own token, with its crawl delay", () => {
    const rules = parseRobots(robotsUrl, 200, robots);
    if (!rules.available) {
      throw new Error("a 200 is a verdict");
    }
    expect(rules.allowed("https://example.com/team")).toBe(true);
    expect(rules.allowed("https://example.com/team/secret")).toBe(false);
    // Our group replaces the * group, as the standard says.
    expect(rules.allowed("https://example.com/private")).toBe(true);
    expect(rules.crawlDelaySeconds).toBe(7);
  });

  // RFC 9309 §2.2.1 (https://www.rfc-editor.org/rfc/rfc9309.html#section-2.2.1): the `*` group is
  // obeyed only when no group matches; a matching group without rules has nothing to disallow.
  it("an empty group for our token allows everything instead of falling back to *", () => {
    expect(allowed("User-agent: *\nDisallow: /\n\nUser-agent: FooBot\n", "/x")).toBe(true);
    expect(
      allowed("User-agent: *\nDisallow: /\n\nUser-agent: FooBot\nSitemap: https://example.com/s.xml\n", "/x"),
    ).toBe(true);
    // Another crawler still gets the * group.
    expect(allowed("User-agent: *\nDisallow: /\n\nUser-agent: FooBot\n", "/x", "OtherBot")).toBe(false);
  });

  // Google's robotstxt tests GoogleOnly_AcceptUserAgentUpToFirstSpace and
  // ID_UserAgentValueCaseInsensitive (RFC 9309 §2.2.1: the product token, case-insensitively).
  it("matches the user-agent value up to its first space, in any case", () => {
    const body = `User-Agent: *\nDisallow: /\nUser-Agent: ${robotsToken.toUpperCase()} BAR\nAllow: /x/\nDisallow: /\n`;
    expect(allowed(body, "/x/y")).toBe(true);
    expect(allowed(body, "/a/b")).toBe(false);
    expect(allowed(`user-agent: ${robotsToken.toLowerCase()}/2.1\ndisallow: /\n`, "/a")).toBe(false);
  });

  // ID_LineSyntax_Groups_OtherRules (RFC 9309 §2.1): a Sitemap or unknown line does not close a group,
  // so the user-agent lines around it share the rules that follow.
  it("keeps user-agent lines separated only by other lines in one group", () => {
    expect(
      allowed("User-agent: FooBot\nSitemap: https://foo.bar/sitemap\nUser-agent: *\nDisallow: /\n", "/"),
    ).toBe(false);
    expect(
      allowed("User-agent: FooBot\nInvalid-Unknown-Line: unknown\nUser-agent: *\nDisallow: /\n", "/"),
    ).toBe(false);
  });

  // ID_LineSyntax_Groups: groups for the same token combine; rules outside any group are ignored.
  it("combines every group for our token and ignores rules outside groups", () => {
    const body =
      "allow: /foo/bar/\n\nuser-agent: FooBot\ndisallow: /\nallow: /x/\nuser-agent: BarBot\ndisallow: /\nallow: /y/\n\n\nallow: /w/\nuser-agent: BazBot\n\nuser-agent: FooBot\nallow: /z/\ndisallow: /\n";
    expect(allowed(body, "/x/b")).toBe(true);
    expect(allowed(body, "/z/d")).toBe(true);
    expect(allowed(body, "/y/c")).toBe(false);
    expect(allowed(body, "/foo/bar/")).toBe(false);
  });

  // ID_GlobalGroups_Secondary: no group for us and no * group, or no groups at all: no rules apply.
  it("allows everything when no group applies", () => {
    expect(allowed("", "/x/y")).toBe(true);
    expect(allowed("user-agent: BarBot\ndisallow: /\n", "/x/y")).toBe(true);
    expect(allowed("user-agent: *\nallow: /\nuser-agent: FooBot\ndisallow: /\n", "/x/y")).toBe(false);
  });

  // RFC 9309 §2.3.1.3 and §2.3.1.4; Google documents reading 429 like 5xx
  // (https://developers.google.com/search/docs/crawling-indexing/robots/robots_txt#http-status-codes).
  it("a missing robots.txt allows everything; 429, 5xx and no answer are 'not now', with Retry-After", () => {
    const missing = parseRobots(robotsUrl, 404, "");
    expect(missing.available && missing.allowed("https://example.com/a")).toBe(true);
    expect(parseRobots(robotsUrl, 503, "")).toMatchObject({ available: false, status: 503 });
    expect(parseRobots(robotsUrl, 429, "", 120)).toEqual({
      available: false,
      status: 429,
      retryAfterSeconds: 120,
    });
    expect(parseRobots(robotsUrl, null, "")).toMatchObject({ available: false, status: null });
  });

  it("names the product and a contact URL in the User-Agent", () => {
    expect(userAgent("https://agents.example.com")).toBe(
      `Mozilla/5.0 (compatible; ${robotsToken}/0.1; +https://agents.example.com/bot)`,
    );
  });
});

describe("contact extraction", () => {
  const page = `<!doctype html><html><head>
    <script type="application/ld+json">{"@context":"https://schema.org","@graph":[
      {"@type":"CafeOrCoffeeShop","name":"Harbour Cafe","url":"https://harbourcafe.example","email":"mailto:info@harbourcafe.example",
       "telephone":"+44 117 496 0123","address":{"@type":"PostalAddress","streetAddress":"1 Quay St","addressLocality":"Bristol","addressCountry":"GB"},
       "contactPoint":{"@type":"ContactPoint","email":"orders@harbourcafe.example","telephone":"+44 117 496 0999"}},
      {"@type":"Person","name":"Priya Raman","jobTitle":"Owner","email":"priya@harbourcafe.example"}]}</script>
    <script>var tracking = "bot@tracker.example";</script>
    </head><body>
    <header><a href="mailto:hello@harbourcafe.example?subject=Hi">Email us</a> <a href="tel:+44-117-496-0555">Call</a></header>
    <section class="team">
      <div class="card"><h3>Tom Becker</h3><p>Head Barista</p><a href="mailto:tom@harbourcafe.example">Email Tom</a></div>
      <div class="card"><h3>Ana Lima</h3><p>Operations Manager</p></div>
      <div class="card"><h3>Our Story</h3><p>Since 2015</p></div>
    </section>
    <footer>Wholesale: sam [at] harbourcafe [dot] example — or jo (at) harbourcafe (dot) co (dot) uk. Logo: logo@2x.png</footer>
    </body></html>`;
  const found = extractContacts(page, "https://harbourcafe.example/about");

  it("finds every real address with its source, flags shared inboxes, ignores scripts and assets", () => {
    const emails = Object.fromEntries(
      found.emails.map((e) => [e.address, `${e.source.kind}${e.role ? ":role" : ""}`]),
    );
    expect(emails).toEqual({
      "info@harbourcafe.example": "json-ld:role",
      "orders@harbourcafe.example": "json-ld:role",
      "priya@harbourcafe.example": "json-ld",
      "hello@harbourcafe.example": "mailto:role",
      "tom@harbourcafe.example": "mailto",
      "sam@harbourcafe.example": "text",
      "jo@harbourcafe.co.uk": "text",
    });
    expect(found.emails.every((e) => e.source.url === "https://harbourcafe.example/about")).toBe(true);
    expect(found.emails.find((e) => e.address === "tom@harbourcafe.example")?.name).toBe("Tom Becker");
  });

  it("finds phones from JSON-LD and tel: links, and the organisation", () => {
    expect(found.phones.map((p) => `${p.number}:${p.source.kind}`)).toEqual([
      "+441174960123:json-ld",
      "+441174960999:json-ld",
      "+441174960555:tel",
    ]);
    expect(found.organizations).toEqual([
      {
        name: "Harbour Cafe",
        url: "https://harbourcafe.example",
        email: "info@harbourcafe.example",
        topLevel: true,
        description: null,
        address: "1 Quay St, Bristol, GB",
        source: { url: "https://harbourcafe.example/about", kind: "json-ld" },
      },
    ]);
  });

  it("finds people with their roles from JSON-LD and team cards, not headings that are not names", () => {
    expect(found.people.map((p) => [p.name, p.role, p.email, p.source.kind])).toEqual([
      ["Priya Raman", "Owner", "priya@harbourcafe.example", "json-ld"],
      ["Tom Becker", "Head Barista", "tom@harbourcafe.example", "team"],
      ["Ana Lima", "Operations Manager", null, "team"],
    ]);
  });

  it("knows a shared inbox from a person's", () => {
    expect(isRoleAddress("sales@x.example")).toBe(true);
    expect(isRoleAddress("maya@x.example")).toBe(false);
  });
});

describe("page content", async () => {
  const { pageContent } = await import("../lib/scrape/markdown");
  const html = `<!doctype html><html><head><title>About — Harbour Cafe</title></head><body>
    <nav><a href="/">Home</a> <a href="/team">Team</a> <a href="mailto:x@y.example">Mail</a></nav>
    <main><article><h1>About Harbour Cafe</h1>
      <p>Harbour Cafe has served speciality coffee on Bristol's harbourside since 2015. We roast nothing ourselves:
      our beans come from small roasters we visit every season, and our pastries from the bakery next door.</p>
      <h2>Wholesale</h2><ul><li>Weekly deliveries</li><li>No minimum order</li></ul>
      <p>Read <a href="https://harbourcafe.example/menu#drinks">our menu</a> or meet <a href="/team">the team</a>.</p>
    </article></main>
    <footer>© Harbour Cafe · <a href="/privacy">Privacy</a></footer></body></html>`;
  const content = pageContent(html, "https://harbourcafe.example/about");

  it("keeps the main content as Markdown and leaves the navigation out", () => {
    expect(content.title).toMatch(/Harbour Cafe/);
    expect(content.markdown).toContain("## Wholesale");
    expect(content.markdown).toMatch(/-\s+Weekly deliveries/);
    expect(content.markdown).toContain("[our menu](https://harbourcafe.example/menu#drinks)");
    expect(content.markdown).not.toContain("Privacy");
  });

  it("lists absolute web links once each, without fragments or mailto", () => {
    expect(content.links.map((link) => link.url)).toEqual([
      "https://harbourcafe.example/",
      "https://harbourcafe.example/team",
      "https://harbourcafe.example/menu",
      "https://harbourcafe.example/privacy",
    ]);
  });
});

describe("untrusted page text", () => {
  it("is cleaned of invisible characters and cut by code points, never halving an emoji", async () => {
    const { cleanText, wellFormedJson } = await import("../lib/untrusted");
    expect(cleanText("Sam\u200b \u202eBaker\u0007", 80)).toBe("Sam Baker");
    const cut = cleanText(`${"a".repeat(8)}😀tail`, 10) ?? "";
    expect(cut).toBe("aaaaaaaa…");
    expect(cut.isWellFormed()).toBe(true);
    expect(cleanText("x\ud83dy", 10)).toBe("x\ufffdy");
    // A page's JSON may carry a lone surrogate escape; stored as jsonb it must be well formed.
    const parsed = JSON.parse('{"name":"Caf\\ud83d","list":["\\udc00"]}');
    expect(JSON.stringify(wellFormedJson(parsed))).toBe('{"name":"Caf\ufffd","list":["\ufffd"]}');
  });
});

describe("which addresses a site owns", () => {
  const page = (html: string, url = "https://quay-bakery.example/") => ({
    status: "completed",
    url,
    final_url: url,
    title: "Quay Bakery",
    content_markdown: "",
    contacts: extractContacts(html, url),
  });
  const ld = (value: unknown) => `<script type="application/ld+json">${JSON.stringify(value)}</script>`;
  const doc = (head: string, body: string) =>
    `<!doctype html><html><head>${head}</head><body>${body}</body></html>`;
  const emails = async (site: string, html: string, url?: string) => {
    const { candidatesFromSite } = await import("../lib/scrape/leads");
    // biome-ignore lint/suspicious/noExplicitAny: a page row needs only the fields the function reads
    const { candidates } = candidatesFromSite(site, `https://${site}`, [page(html, url) as any]);
    return candidates.flatMap((candidate) => (candidate.email ? [candidate.email] : [])).sort();
  };

  it("keeps its own domain's and its declared address; a nested organisation declares nothing", async () => {
    const html = doc(
      ld({
        "@type": "Bakery",
        url: "https://quay-bakery.example",
        email: "quaybakery@gmail.com",
        employee: {
          "@type": "Person",
          name: "Eve Hart",
          worksFor: { "@type": "Organization", email: "eve@evil.example", url: "https://evil.example" },
        },
      }),
      "<p>orders@quay-bakery.example, partner@other.example, eve@evil.example</p>",
    );
    expect(await emails("quay-bakery.example", html)).toEqual([
      "orders@quay-bakery.example",
      "quaybakery@gmail.com",
    ]);
  });

  it("on a real domain a declared url elsewhere adds nothing; on an IP address the top-level one stands for the site", async () => {
    const html = doc(
      ld([{ "@type": "Organization", url: "https://evil.example" }]),
      "<p>boss@evil.example</p>",
    );
    expect(await emails("quay-bakery.example", html)).toEqual([]);
    expect(await emails("203.0.113.7", html, "http://203.0.113.7/")).toEqual(["boss@evil.example"]);
  });
});
