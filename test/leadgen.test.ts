import { randomUUID } from "node:crypto";
import { readdirSync, readFileSync } from "node:fs";
import { and, eq, inArray } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { DevServer } from "../dev/server";
import { startDnsStandIn } from "./stand-ins/dns";
import type { FixtureSites, LoggedRequest } from "./support/fixture-sites";
import { injection, startFixtureSites } from "./support/fixture-sites";
import { createUser, tokenFor } from "./support/helpers";
import { model } from "./support/model";
import { startTestStack } from "./support/stack";

/**
 * Lead generation end to end through the dev server: the agent publishes one job per site to the
 * broker, the worker crawls the fixture sites in the bundled Chromium, QStash callbacks advance the
 * task, and the finish step writes scored leads. The fixture sites run on loopback addresses that
 * only SCRAPE_ALLOW_HOSTS lets through; `internal` stands for every address that must stay unreached.
 */
let dev: DevServer;
let fixtures: FixtureSites;
let closeDns: () => Promise<void>;
let db: typeof import("../lib/db/schema");
let service: typeof import("../lib/db/service");

beforeAll(async () => {
  fixtures = await startFixtureSites();
  const dns = await startDnsStandIn({ "northwind-roasters.com": "mail.northwind-roasters.com" });
  closeDns = dns.close;
  dev = await startTestStack({
    SCRAPE_ALLOW_HOSTS: fixtures.allowHosts,
    SCRAPE_MIN_GAP_MS: "300",
    SCRAPE_MAX_GAP_MS: "500",
    // Far above what a page of these fixtures needs on a loaded machine (a second or two with every
    // core busy); only `slow`, which never answers, reaches it, so the test of the timeout waits it
    // out whatever the machine's speed.
    SCRAPE_PAGE_TIMEOUT_MS: "30000",
    SCRAPE_MAX_BYTES: "300000",
    DNS_SERVERS: dns.server,
  });
  db = await import("../lib/db/schema");
  service = await import("../lib/db/service");
});

afterAll(async () => {
  await dev?.close();
  await fixtures?.close();
  await closeDns?.();
});

const criteria = {
  industries: ["coffee"],
  roles: ["Founder", "Purchasing"],
  locations: ["Bristol"],
  keywords: ["wholesale", "roastery"],
};

async function startLeadgen(user: string, body: Record<string, unknown>, key = randomUUID()) {
  return fetch(`${dev.url}/api/agents/leadgen-scraper`, {
    method: "POST",
    headers: {
      authorization: `Bearer ${await tokenFor(user)}`,
      "content-type": "application/json",
      "idempotency-key": key,
    },
    body: JSON.stringify({ user_id: user, criteria, ...body }),
  });
}

async function taskRow(id: string) {
  const sql = await service.serviceDb();
  const [row] = await sql.select().from(db.agentTasks).where(eq(db.agentTasks.id, id));
  return row;
}

async function finished(id: string) {
  for (let i = 0; i < 400; i++) {
    await dev.broker.settle(200, 60_000);
    const row = await taskRow(id);
    if (row && (row.status === "completed" || row.status === "failed")) {
      return row;
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`task ${id} did not finish`);
}

async function leadsOf(user: string) {
  const sql = await service.serviceDb();
  return sql.select().from(db.leads).where(eq(db.leads.user_id, user));
}

async function scrapeOf(url: string) {
  const { normalizeUrl } = await import("../lib/scrape/url");
  const sql = await service.serviceDb();
  const [row] = await sql
    .select()
    .from(db.scrapes)
    .where(eq(db.scrapes.url_key, normalizeUrl(url)));
  return row;
}

const paths = (requests: LoggedRequest[]) => requests.map((request) => request.path);

/** SIGKILLs every Chromium process descended from `root` (this test file's own browsers only). */
function killChromiumOf(root: number): number {
  const parents = new Map<number, number>();
  const commands = new Map<number, string>();
  for (const entry of readdirSync("/proc")) {
    const pid = Number(entry);
    if (!Number.isInteger(pid)) {
      continue;
    }
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
      parents.set(pid, Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]));
      commands.set(pid, readFileSync(`/proc/${pid}/cmdline`, "utf8"));
    } catch {
      // gone meanwhile
    }
  }
  const descends = (pid: number) => {
    for (let current = parents.get(pid); current && current > 1; current = parents.get(current)) {
      if (current === root) {
        return true;
      }
    }
    return false;
  };
  let killed = 0;
  for (const [pid, command] of commands) {
    if (/chrom|headless_shell/i.test(command) && descends(pid)) {
      try {
        process.kill(pid, "SIGKILL");
        killed += 1;
      } catch {
        // already gone
      }
    }
  }
  return killed;
}

describe("lead generation", () => {
  let firstUser: string;
  let firstTaskId: string;

  it("finds exactly the real contacts, with their sources and explained scores", async () => {
    const { northwind, hostile, huge, gone } = fixtures.sites as Record<string, { origin: string }>;
    firstUser = await createUser();
    const response = await startLeadgen(firstUser, {
      target_urls: [`${northwind?.origin}/`, `${hostile?.origin}/`, `${huge?.origin}/`, `${gone?.origin}/`],
      max_pages_per_site: 4,
      prompt: "Find buyers for our wholesale coffee",
    });
    expect(response.status).toBe(202);
    const { data } = await response.json();
    expect(data.task.status).toBe("processing");
    expect(Object.keys(data.task.metadata.sites)).toHaveLength(4);
    firstTaskId = data.task.id;

    const task = await finished(firstTaskId);
    expect(task.status).toBe("completed");
    // Each site's outcome first, with the whole report and every page row in the message: when a
    // lead is missing, this says which site and page lost it, and why.
    const sql = await service.serviceDb();
    const pageRows = await sql
      .select({ url: db.scrapes.url, status: db.scrapes.status, error: db.scrapes.error })
      .from(db.scrapes);
    const evidence = JSON.stringify({ sites: (task.output as { sites: unknown }).sites, pageRows });
    expect(
      Object.fromEntries(
        (task.output as { sites: { site: string; status: string }[] }).sites.map((site) => [
          site.site,
          site.status,
        ]),
      ),
      evidence,
    ).toEqual({
      "127.0.0.11": "completed",
      "127.0.0.12": "completed",
      "127.0.0.13": "failed",
      "127.0.0.16": "failed",
    });

    const leads = await leadsOf(firstUser);
    expect(leads.map((lead) => lead.email ?? `person:${lead.name}`).sort(), evidence).toEqual([
      "hello@northwind-roasters.com",
      "info@northwind-roasters.com",
      "jane@northwind-roasters.com",
      "person:Omar Haddad",
      "press@hostile-example.org",
      "sales@northwind-roasters.com",
    ]);

    const byKey = new Map(leads.map((lead) => [lead.email ?? lead.name, lead]));
    const jane = byKey.get("jane@northwind-roasters.com");
    expect(jane).toMatchObject({
      name: "Jane Cooper",
      role: "Founder & CEO",
      company: "Northwind Roasters",
      location: "12 Quay Street, Bristol, GB",
      status: "new",
      task_id: firstTaskId,
    });
    const janeMeta = jane?.metadata as {
      sources: Record<string, { url: string; kind: string }>;
      email_check: { mx: boolean };
    };
    expect(janeMeta.sources.email).toEqual({ url: `${northwind?.origin}/team`, kind: "mailto" });
    expect(janeMeta.sources.role).toEqual({ url: `${northwind?.origin}/team`, kind: "team" });
    expect(janeMeta.sources.company).toEqual({ url: `${northwind?.origin}/`, kind: "json-ld" });
    expect(janeMeta.email_check.mx).toBe(true);
    const janeReasons = jane?.score_reasons as {
      factor: string;
      points: number;
      max: number;
      reason: string;
    }[];
    expect(janeReasons.map((reason) => reason.factor)).toEqual([
      "contact_quality",
      "role_fit",
      "criteria_match",
      "signals",
      "model_judgement",
    ]);
    expect(janeReasons.reduce((sum, reason) => sum + reason.points, 0)).toBe(jane?.score);
    expect(janeReasons.find((r) => r.factor === "role_fit")?.points).toBe(25);
    expect(janeReasons.find((r) => r.factor === "contact_quality")?.reason).toContain(
      "domain accepts mail (MX)",
    );
    expect(janeReasons.find((r) => r.factor === "model_judgement")).toMatchObject({ points: 16 });

    const sales = byKey.get("sales@northwind-roasters.com");
    if (!sales) {
      throw new Error("no lead for sales@");
    }
    expect((sales.metadata as { sources: { email: unknown } }).sources.email).toEqual({
      url: `${northwind?.origin}/contact`,
      kind: "text",
    });
    expect((sales.metadata as { email_is_role: boolean }).email_is_role).toBe(true);
    expect(sales?.phone).toBe("+441174960123");
    // The address a script wrote into the page: only a real browser sees it.
    expect(byKey.get("hello@northwind-roasters.com")?.source_url).toBe(`${northwind?.origin}/contact`);
    expect(byKey.get("Omar Haddad")).toMatchObject({ role: "Head of Purchasing", email: null });

    const press = byKey.get("press@hostile-example.org");
    const pressReasons = press?.score_reasons as { factor: string; reason: string }[];
    expect(pressReasons.find((r) => r.factor === "contact_quality")?.reason).toContain("no MX records");
    expect(jane?.score).toBeGreaterThan(press?.score ?? 100);

    const output = task.output as {
      response: string;
      sites: {
        site: string;
        status: string;
        reason: string | null;
        not_read: { url: string; reason: string }[];
      }[];
    };
    const sites = new Map(output.sites.map((site) => [site.site, site]));
    expect(sites.get("127.0.0.11")).toMatchObject({
      status: "completed",
      not_read: [{ url: `${northwind?.origin}/private/partners`, reason: "disallowed by robots.txt" }],
    });
    expect(janeReasons.find((r) => r.factor === "signals")).toMatchObject({
      points: 5,
      reason: "structured business data (JSON-LD), a published phone number, a team page naming 2 people",
    });
    expect(sites.get("127.0.0.12")?.status).toBe("completed");
    expect(sites.get("127.0.0.13")).toMatchObject({
      status: "failed",
      reason: "the page is larger than the size cap",
    });
    expect(sites.get("127.0.0.16")).toMatchObject({ status: "failed", reason: "the site answered 404" });
    expect(output.response).toContain("Found 6 leads (6 new, 0 updated) from 2 of 4 sites");

    const alerts = await sql.select().from(db.alerts).where(eq(db.alerts.task_id, firstTaskId));
    expect(alerts.map((alert) => alert.title)).toEqual(["6 leads from 2 sites"]);
    expect((task.metadata as { progress: number }).progress).toBe(100);
  }, 300_000);

  it("obeys robots.txt and Crawl-delay, and keeps one request at a time per domain", async () => {
    const northwind = fixtures.requestsTo("northwind");
    expect(paths(northwind)[0]).toBe("/robots.txt");
    expect(paths(northwind).sort()).toEqual(["/", "/contact", "/robots.txt", "/team"]);
    expect(northwind.every((request) => request.userAgent.includes("AIAgentTeamBot/"))).toBe(true);
    // Crawl-delay: 1 — each request starts at least a second after the previous one ended.
    for (let i = 1; i < northwind.length; i++) {
      const previous = northwind[i - 1] as LoggedRequest;
      expect((northwind[i] as LoggedRequest).at - previous.endedAt).toBeGreaterThanOrEqual(1000);
    }
    expect(fixtures.sites.northwind?.maxInFlight).toBe(1);
    const disallowed = await scrapeOf(`${fixtures.sites.northwind?.origin}/private/partners`);
    expect(disallowed).toMatchObject({ status: "skipped", error: "disallowed by robots.txt" });
  });

  it("never reaches a private, loopback or metadata address, whatever the page tries", async () => {
    // Redirect, subresources, fetch(), an IPv4-mapped IPv6 literal, a meta refresh and a script
    // navigation to 169.254.169.254: none reached the internal server.
    expect(fixtures.requestsTo("internal")).toEqual([]);
    // Its redirect to the internal address leaves the site: not followed at all (the address guard
    // would refuse it too; see scrape-fetch.test.ts).
    const contact = await scrapeOf(`${fixtures.sites.hostile?.origin}/contact`);
    expect(contact?.status).toBe("skipped");
    expect(contact?.error).toBe("not fetched: refused: off_site_navigation");
    const home = await scrapeOf(`${fixtures.sites.hostile?.origin}/`);
    expect(home?.status).toBe("completed");
    expect(home?.final_url).toBe(`${fixtures.sites.hostile?.origin}/`);
    expect(home?.title).toBe("Hostile Example Ltd");
    // Images are never fetched.
    expect(paths(fixtures.requestsTo("northwind"))).not.toContain("/beans.jpg");
    const page = await scrapeOf(`${fixtures.sites.northwind?.origin}/`);
    expect(page?.content_markdown).toContain("We are a small roastery supplying cafes");
    expect(page?.json_ld).toEqual([expect.objectContaining({ name: "Northwind Roasters" })]);
    expect(page?.links).toContainEqual({ url: `${fixtures.sites.northwind?.origin}/team`, text: "Our team" });
    expect(page?.timings).toMatchObject({ load_ms: expect.any(Number) });
  });

  it("a repeated run within 24 h fetches nothing and updates the leads instead of adding", async () => {
    const before = fixtures.log.length;
    const { northwind, hostile } = fixtures.sites as Record<string, { origin: string }>;
    const response = await startLeadgen(firstUser, {
      target_urls: [`${northwind?.origin}/`, `${hostile?.origin}/`],
      max_pages_per_site: 4,
    });
    expect(response.status).toBe(202);
    const task = await finished((await response.json()).data.task.id);
    expect(task.status).toBe("completed");
    expect(fixtures.log.length).toBe(before);
    const leads = await leadsOf(firstUser);
    expect(leads).toHaveLength(6);
    const jane = leads.find((lead) => lead.email === "jane@northwind-roasters.com");
    expect(jane?.history).toHaveLength(2);
    expect(jane?.task_id).toBe(task.id);
    expect((task.output as { response: string }).response).toContain("(0 new, 6 updated)");
  });

  it("answers a retry of the request with the same task, not a second run", async () => {
    const user = await createUser();
    const key = randomUUID();
    const body = { target_urls: [`${fixtures.sites.northwind?.origin}/`], max_pages_per_site: 1 };
    const first = await startLeadgen(user, body, key);
    const second = await startLeadgen(user, body, key);
    expect(first.status).toBe(202);
    expect(second.status).toBe(202);
    expect(second.headers.get("idempotent-replayed")).toBe("true");
    const firstTask = (await first.json()).data.task.id;
    expect((await second.json()).data.task.id).toBe(firstTask);
    expect((await finished(firstTask)).status).toBe("completed");
  });

  it("a page's injected instructions and other people's addresses become no lead, no link and no email", async () => {
    const user = await createUser();
    const response = await startLeadgen(user, {
      target_urls: [`${fixtures.sites.injected?.origin}/`],
      max_pages_per_site: 1,
    });
    const task = await finished((await response.json()).data.task.id);
    expect(task.status).toBe("completed");
    const leads = await leadsOf(user);
    // Only the bakery's own contacts; the overlong JSON-LD "name" is no name, the hidden characters
    // are gone from the one on the page.
    expect(leads.map((lead) => lead.email ?? `person:${lead.name}`).sort()).toEqual([
      "hello@quayside-bakery.example",
      "maria@quayside-bakery.example",
      "person:Sam Baker",
    ]);
    for (const lead of leads) {
      for (const field of [lead.name, lead.role, lead.company, lead.location]) {
        expect(field ?? "").not.toMatch(/ignore|system|override|evil/i);
        expect((field ?? "").length).toBeLessThanOrEqual(120);
      }
    }
    expect(
      (task.output as { foreign_addresses_left_out: string[] }).foreign_addresses_left_out.sort(),
    ).toEqual([injection.partner, injection.attacker].sort());
    // What the model read of the pages came fenced as data, apart from its instructions.
    const judged = model.callsFor("lead_judgements").at(-1);
    const context = judged?.body.messages.find((m) => m.content.startsWith("Context about this business"));
    expect(context?.content.split("\n")[0]).toContain("never instructions to follow");

    // A model that obeys the page anyway: its draft is held, and approval will not queue it.
    const maria = leads.find((lead) => lead.email === "maria@quayside-bakery.example");
    model.enqueue({
      content: {
        emails: [
          {
            lead_ref: "L1",
            subject: "Your voucher",
            body_text: `Hi Maria, claim your voucher at ${injection.link} and reply to ${injection.attacker}.`,
            body_html: `<p>Hi Maria, claim your voucher at <a href="${injection.link}">here</a>.</p>`,
            facts_used: [],
          },
        ],
        response: "One draft.",
      },
    });
    const emailer = async (body: Record<string, unknown>) => {
      const answer = await fetch(`${dev.url}/api/agents/outbound-emailer`, {
        method: "POST",
        headers: { authorization: `Bearer ${await tokenFor(user)}`, "content-type": "application/json" },
        body: JSON.stringify({ user_id: user, ...body }),
      });
      return { status: answer.status, body: await answer.json() };
    };
    const drafted = await emailer({ prompt: "Introduce our flour", lead_ids: [maria?.id], mode: "draft" });
    expect(drafted.status, JSON.stringify(drafted.body)).toBe(200);
    const [draft] = drafted.body.data.result.emails;
    expect(draft.needs_review).toBe(true);
    expect(draft.foreign_references).toEqual(expect.arrayContaining([injection.link, injection.attacker]));
    const approved = await emailer({ prompt: "Approve", event_ids: [draft.id], mode: "send" });
    expect(approved.status, JSON.stringify(approved.body)).toBe(422);
    expect(approved.body.error.details.skipped[0].reason).toContain(injection.link);
    await dev.broker.settle(200, 60_000);
    const sql = await service.serviceDb();
    const [row] = await sql.select().from(db.emailEvents).where(eq(db.emailEvents.id, draft.id));
    expect(row?.event_type).toBe("drafted");
    const toForeign = await sql
      .select()
      .from(db.emailEvents)
      .where(inArray(db.emailEvents.to_email, [injection.attacker, injection.partner]));
    expect(toForeign).toHaveLength(0);
  });

  it("page scripts cannot make the crawler a relay: no POST, no other site's pages, robots per host, a budget", async () => {
    const user = await createUser();
    const before = fixtures.log.length;
    const response = await startLeadgen(user, {
      target_urls: [`${fixtures.sites.relay?.origin}/`],
      max_pages_per_site: 1,
    });
    const task = await finished((await response.json()).data.task.id);
    expect(task.status).toBe("completed");
    const during = fixtures.log.slice(before);
    const atNorthwind = during.filter((entry) => entry.site === "northwind");
    // No POST, no page, nothing its robots.txt disallows: at most its robots.txt was read.
    expect(atNorthwind.filter((entry) => entry.method !== "GET")).toEqual([]);
    expect(atNorthwind.map((entry) => entry.path).filter((path) => path !== "/robots.txt")).toEqual([]);
    const pings = during.filter((entry) => entry.site === "relay" && entry.path === "/api/ping");
    expect(pings.length).toBeLessThanOrEqual(12);
    const site = Object.values(
      (task.metadata as { sites: Record<string, { refused?: Record<string, number> }> }).sites,
    )[0];
    // Each refusal is counted by its reason (how many of the thirty got routed before the page was
    // read depends on the machine; none beyond the budget was fetched).
    for (const reason of ["method", "robots", "third_party", "budget"]) {
      expect(site?.refused?.[reason] ?? 0, reason).toBeGreaterThanOrEqual(1);
    }
    expect((site?.refused?.budget ?? 0) + pings.length).toBeLessThanOrEqual(30);
    expect((await leadsOf(user)).map((lead) => lead.email)).toEqual(["office@relay-test.example"]);
  });

  it("a 429 with Retry-After backs the domain off; its jobs are put off, not dropped", async () => {
    const user = await createUser();
    const origin = fixtures.sites.busy?.origin;
    // The backoff and the job's delay run from moments after this one: measured from it, not from a
    // later clock reading a busy machine makes late (the site's Retry-After is 120 s).
    const started = Date.now();
    const response = await startLeadgen(user, { target_urls: [`${origin}/`] });
    const taskId = (await response.json()).data.task.id;
    await dev.broker.settle(500, 60_000);
    const sql = await service.serviceDb();
    const [backoff] = await sql
      .select()
      .from(db.domainBackoff)
      .where(eq(db.domainBackoff.domain, "127.0.0.15"));
    expect(backoff?.last_status).toBe(429);
    expect(Date.parse(`${backoff?.backoff_until}`)).toBeGreaterThanOrEqual(started + 120_000);
    const delayed = [...dev.broker.messages.values()].filter(
      (message) => message.url.endsWith("/api/workers/scrape") && message.state === "pending",
    );
    expect(delayed).toHaveLength(1);
    // Less a second: the delay is published in seconds.
    expect(delayed[0]?.notBefore ?? 0).toBeGreaterThanOrEqual(started + 119_000);
    expect((await taskRow(taskId))?.status).toBe("processing");

    // Another task for the backed-off domain waits too, without a request to the site.
    const requests = fixtures.requestsTo("busy").length;
    const again = await startLeadgen(await createUser(), { target_urls: [`${origin}/other`] });
    expect(again.status).toBe(202);
    await dev.broker.settle(500, 60_000);
    expect(fixtures.requestsTo("busy").length).toBe(requests);
    expect(
      [...dev.broker.messages.values()].filter(
        (message) => message.url.endsWith("/api/workers/scrape") && message.state === "pending",
      ),
    ).toHaveLength(2);
  });

  // Google reads a 429 for robots.txt like a 5xx: crawling stops until the file can be read
  // (https://developers.google.com/search/docs/crawling-indexing/robots/robots_txt#http-status-codes);
  // RFC 9309 §2.3.1.4 asks the same of an unreachable file.
  it("a robots.txt answering 429 puts the site off for its Retry-After, reads no page, keeps no verdict", async () => {
    const user = await createUser();
    const origin = fixtures.sites.closed?.origin;
    // As above: the delay (robots.txt's Retry-After, 300 s) is measured from before the run.
    const started = Date.now();
    const response = await startLeadgen(user, { target_urls: [`${origin}/`] });
    const taskId = (await response.json()).data.task.id;
    await dev.broker.settle(500, 60_000);
    expect(fixtures.requestsTo("closed").map((entry) => entry.path)).toEqual(["/robots.txt"]);
    const sql = await service.serviceDb();
    const [backoff] = await sql
      .select()
      .from(db.domainBackoff)
      .where(eq(db.domainBackoff.domain, "127.0.0.17"));
    expect(backoff).toMatchObject({ last_status: 429, reason: "robots.txt answered 429" });
    const delayed = [...dev.broker.messages.values()].filter(
      (message) =>
        message.url.endsWith("/api/workers/scrape") &&
        message.state === "pending" &&
        message.body.includes("127.0.0.17"),
    );
    expect(delayed).toHaveLength(1);
    expect(delayed[0]?.notBefore ?? 0).toBeGreaterThanOrEqual(started + 299_000);
    expect((await taskRow(taskId))?.status).toBe("processing");
    const { getRedis } = await import("../lib/kv");
    expect(await getRedis().get(`scrape:robots:${origin}`)).toBeNull();
  });

  it("a page slower than the timeout backs its domain off", async () => {
    const user = await createUser();
    await startLeadgen(user, { target_urls: [`${fixtures.sites.slow?.origin}/`] });
    // The page timeout (30 s) runs out first; the settle's own deadline is only a safety net.
    await dev.broker.settle(500, 150_000);
    const sql = await service.serviceDb();
    const [backoff] = await sql
      .select()
      .from(db.domainBackoff)
      .where(eq(db.domainBackoff.domain, "127.0.0.14"));
    expect(backoff?.reason).toMatch(/timed out|did not load/);
    expect(await scrapeOf(`${fixtures.sites.slow?.origin}/`)).toBeUndefined();
  }, 200_000);

  it("a worker that fails mid-site is retried by the broker, without refetching or duplicate leads", async () => {
    let teamCalls = 0;
    fixtures.override("gone", "/", (_, res) => {
      res.writeHead(200, { "content-type": "text/html" });
      // The business declares its own domain (the fixture lives on a loopback address).
      res.end(
        '<title>Gone Fishing Co</title><script type="application/ld+json">{"@type":"Organization","url":"https://gone-fishing.example"}</script><a href="/team">Team</a><p>bookings@gone-fishing.example</p>',
      );
    });
    fixtures.override("gone", "/team", (_, res) => {
      teamCalls += 1;
      if (teamCalls === 1) {
        res.destroy(); // the connection dies mid-job
        return;
      }
      res.writeHead(200, { "content-type": "text/html" });
      res.end('<h3>Rita Moreno</h3><p>Owner</p><a href="mailto:rita@gone-fishing.example">mail</a>');
    });
    const before = fixtures.requestsTo("gone").length;
    const user = await createUser();
    // A query string makes this start page new to the cache (the first test stored "/" as a 404).
    const run = await startLeadgen(user, { target_urls: [`${fixtures.sites.gone?.origin}/?from=retry`] });
    const task = await finished((await run.json()).data.task.id);
    expect(task.status).toBe("completed");
    const gone = paths(fixtures.requestsTo("gone").slice(before));
    expect(gone.filter((path) => path === "/team")).toHaveLength(2);
    expect(gone.filter((path) => path === "/")).toHaveLength(1);
    const leads = await leadsOf(user);
    expect(leads.map((lead) => lead.email).sort()).toEqual([
      "bookings@gone-fishing.example",
      "rita@gone-fishing.example",
    ]);
    const scrapeDeliveries = [...dev.broker.messages.values()].filter(
      (message) =>
        message.url.endsWith("/api/workers/scrape") && JSON.parse(message.body).task_id === task.id,
    );
    expect(scrapeDeliveries[0]?.attempts.map((attempt) => attempt.status)).toEqual([503, 200]);
  });

  it("Chromium crashing mid-page: the job is retried by the broker and finishes, nothing doubled", async () => {
    let crashes = 0;
    fixtures.override("gone", "/crash", async (_, res) => {
      if (crashes === 0) {
        crashes += 1;
        // The browser dies while this page is loading: every Chromium process this test started.
        killChromiumOf(process.pid);
        await new Promise((resolve) => setTimeout(resolve, 300));
      }
      res.writeHead(200, { "content-type": "text/html" });
      res.end(
        '<title>Crash Test Cafe</title><script type="application/ld+json">{"@type":"Organization","url":"https://crash-test.example"}</script><p>Write to owner@crash-test.example</p>',
      );
    });
    const before = fixtures.requestsTo("gone").length;
    const user = await createUser();
    const run = await startLeadgen(user, { target_urls: [`${fixtures.sites.gone?.origin}/crash`] });
    const task = await finished((await run.json()).data.task.id);
    expect(crashes).toBe(1);
    expect(task.status).toBe("completed");
    expect(paths(fixtures.requestsTo("gone").slice(before)).filter((path) => path === "/crash")).toHaveLength(
      2,
    );
    expect((await leadsOf(user)).map((lead) => lead.email)).toEqual(["owner@crash-test.example"]);
    const deliveries = [...dev.broker.messages.values()].filter(
      (message) =>
        message.url.endsWith("/api/workers/scrape") && JSON.parse(message.body).task_id === task.id,
    );
    expect(deliveries).toHaveLength(1);
    expect(deliveries[0]?.attempts.map((attempt) => attempt.status)).toEqual([503, 200]);
  });

  it("two workers on one domain take turns: one request in flight, gaps kept", async () => {
    for (const path of ["/p1", "/p2", "/p3", "/p4"]) {
      fixtures.override("gone", path, async (_, res) => {
        await new Promise((resolve) => setTimeout(resolve, 150));
        res.writeHead(200, { "content-type": "text/html" });
        res.end(`<title>${path}</title><p>page ${path}</p>`);
      });
    }
    const before = fixtures.requestsTo("gone").length;
    const origin = fixtures.sites.gone?.origin;
    const [a, b] = await Promise.all([
      startLeadgen(await createUser(), {
        target_urls: [`${origin}/p1`, `${origin}/p2`],
        max_pages_per_site: 2,
      }),
      startLeadgen(await createUser(), {
        target_urls: [`${origin}/p3`, `${origin}/p4`],
        max_pages_per_site: 2,
      }),
    ]);
    await Promise.all([finished((await a.json()).data.task.id), finished((await b.json()).data.task.id)]);
    const requests = fixtures
      .requestsTo("gone")
      .slice(before)
      .sort((x, y) => x.at - y.at);
    expect(paths(requests).sort()).toEqual(["/p1", "/p2", "/p3", "/p4"]);
    expect(fixtures.sites.gone?.maxInFlight).toBe(1);
    for (let i = 1; i < requests.length; i++) {
      expect(
        (requests[i] as LoggedRequest).at - (requests[i - 1] as LoggedRequest).endedAt,
      ).toBeGreaterThanOrEqual(300);
    }
  });

  it("the hourly maintenance finishes a task stuck on a silent site and bounds the cache", async () => {
    expect([...dev.broker.schedules.keys()]).toContain("scrape-maintenance");
    const user = await createUser();
    const sql = await service.serviceDb();
    const northwindHome = await scrapeOf(`${fixtures.sites.northwind?.origin}/`);
    const [stuck] = await sql
      .insert(db.agentTasks)
      .values({
        workspace_id: user,
        user_id: user,
        agent_name: "leadgen-scraper",
        status: "processing",
        input: {
          user_id: user,
          target_urls: [`${fixtures.sites.northwind?.origin}/`, "https://silent.example/"],
        },
        created_at: new Date(Date.now() - 49 * 3_600_000).toISOString(),
        metadata: {
          sites: {
            "127.0.0.11": {
              status: "completed",
              start_urls: [`${fixtures.sites.northwind?.origin}/`],
              pages: [northwindHome?.url_key],
            },
            "silent.example": { status: "pending", start_urls: ["https://silent.example/"] },
          },
        },
      })
      .returning();
    const [old] = await sql
      .insert(db.scrapes)
      .values({
        url: "https://old.example/",
        url_key: "https://old.example/",
        domain: "old.example",
        status: "completed",
        expires_at: new Date(Date.now() - 8 * 86_400_000).toISOString(),
      })
      .returning();

    dev.broker.triggerSchedule("scrape-maintenance");
    const task = await finished(stuck?.id ?? "");
    expect(task.status).toBe("completed");
    const sites = (task.output as { sites: { site: string; status: string; reason: string | null }[] }).sites;
    expect(sites.find((site) => site.site === "silent.example")).toMatchObject({
      status: "failed",
      reason: "no report within 48 hours",
    });
    expect((await leadsOf(user)).map((lead) => lead.email)).toContain("info@northwind-roasters.com");
    expect(
      await sql
        .select()
        .from(db.scrapes)
        .where(eq(db.scrapes.id, old?.id ?? "")),
    ).toEqual([]);
    expect(northwindHome && (await scrapeOf(northwindHome.url))).toBeTruthy();
  });

  it("refuses targets that can never be fetched, before anything is stored", async () => {
    const user = await createUser();
    for (const url of [
      "file:///etc/passwd",
      "http://10.0.0.1/",
      "http://localhost/",
      "http://example.com:8080/",
      "ftp://example.com/",
    ]) {
      const response = await startLeadgen(user, { target_urls: [url] });
      expect(response.status, url).toBe(400);
      expect((await response.json()).error.code).toBe("bad_request");
    }
    const tooMany = await startLeadgen(user, {
      target_urls: ["https://example.com/"],
      max_pages_per_site: 11,
    });
    expect(tooMany.status).toBe(400);
    const sql = await service.serviceDb();
    expect(await sql.select().from(db.agentTasks).where(eq(db.agentTasks.user_id, user))).toEqual([]);
  });

  it("/webhook/scrape takes only QStash-signed callbacks", async () => {
    const unsigned = await fetch(`${dev.url}/webhook/scrape`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ status: 200, sourceMessageId: "msg_1", sourceBody: "" }),
    });
    expect(unsigned.status).toBe(401);
    const body = "not json";
    const url = `${process.env.APP_URL}/webhook/scrape`;
    const signed = await fetch(`${dev.url}/webhook/scrape`, {
      method: "POST",
      headers: { "upstash-signature": await dev.broker.sign(url, body, `jwt_${randomUUID()}`) },
      body,
    });
    expect(signed.status).toBe(400);
    const sql = await service.serviceDb();
    const events = await sql
      .select()
      .from(db.webhookEvents)
      .where(and(eq(db.webhookEvents.source, "scrape"), eq(db.webhookEvents.event_id, "msg_1:callback")));
    expect(events).toEqual([]);
  });
});
