/**
 * Scrape politeness efficiency: N sites × M pages crawled at once, the way the worker does it (one
 * Chromium per site job, robots.txt, the production 2–5 s jittered gap per domain). Politeness sets
 * a floor on wall time — (requests per site − 1) × the minimum gap — so the figure that matters is
 * how close the crawl gets to it, next to pages per second and peak memory (Node plus Chromium).
 */
import { randomUUID } from "node:crypto";
import { readdirSync, readFileSync } from "node:fs";
import { createServer, type Server } from "node:http";

export interface BenchSites {
  origins: string[];
  allowHosts: string;
  close(): Promise<void>;
}

const latencyMs = 40;

/** N sites on their own loopback addresses; each home page links to M−1 contact-like pages. */
export async function startBenchSites(domains: number, pagesPerSite: number): Promise<BenchSites> {
  const servers: Server[] = [];
  const origins: string[] = [];
  const extra = [
    "contact",
    "team",
    "about",
    "imprint",
    "people",
    "staff",
    "leadership",
    "company",
    "our-story",
  ];
  for (let i = 0; i < domains; i++) {
    const host = `127.0.0.${30 + i}`;
    const links = extra.slice(0, pagesPerSite - 1);
    const server = createServer((req, res) => {
      setTimeout(() => {
        const path = (req.url ?? "/").split("?")[0];
        if (path === "/robots.txt") {
          res.writeHead(200, { "content-type": "text/plain" });
          res.end("User-agent: *\nAllow: /\n");
          return;
        }
        res.writeHead(200, { "content-type": "text/html" });
        res.end(
          `<title>Site ${i} ${path}</title><main><h1>Company ${i}</h1><p>${"Text about the company. ".repeat(200)}</p>` +
            links.map((link) => `<a href="/${link}">${link}</a>`).join(" ") +
            `<p>person${i}@site${i}.example</p></main>`,
        );
      }, latencyMs);
    });
    await new Promise<void>((resolve) => server.listen(0, host, resolve));
    servers.push(server);
    origins.push(`http://${host}:${(server.address() as { port: number }).port}`);
  }
  return {
    origins,
    allowHosts: origins.map((origin) => new URL(origin).host).join(","),
    close: async () => {
      for (const server of servers) {
        server.closeAllConnections();
        server.close();
      }
    },
  };
}

/** Resident memory of this process and every Chromium process, in MB. */
function residentMb(): number {
  let kb = 0;
  for (const pid of readdirSync("/proc").filter((entry) => /^\d+$/.test(entry))) {
    try {
      const cmdline = readFileSync(`/proc/${pid}/cmdline`, "utf8");
      if (Number(pid) === process.pid || /chromium|headless_shell|chrome/.test(cmdline)) {
        const match = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
        kb += Number(match?.[1] ?? 0);
      }
    } catch {
      // the process ended
    }
  }
  return kb / 1024;
}

export async function benchScrape(sites: BenchSites, pagesPerSite: number) {
  const { getConfig } = await import("../lib/config");
  const { crawlSite } = await import("../lib/scrape/crawl");
  const { launchBrowser, openSiteSession } = await import("../lib/scrape/browser");
  const log = (await import("../lib/log")).log.child({});
  log.level = "silent";
  const config = getConfig();

  let peak = residentMb();
  const sampler = setInterval(() => {
    peak = Math.max(peak, residentMb());
  }, 100);
  const run = randomUUID();
  const userId = randomUUID();
  const { serviceDb } = await import("../lib/db/service");
  const { agentTasks } = await import("../lib/db/schema");
  const { sql } = await import("drizzle-orm");
  const db = await serviceDb();
  await db.execute(sql`insert into auth.users (id, email) values (${userId}, ${`${userId}@bench.test`})`);
  const [task] = await db
    .insert(agentTasks)
    .values({ workspace_id: userId, user_id: userId, agent_name: "leadgen-scraper", status: "processing" })
    .returning({ id: agentTasks.id });
  const taskId = task?.id ?? "";
  const started = performance.now();
  const reports = await Promise.all(
    sites.origins.map((origin) =>
      crawlSite(
        {
          task_id: taskId,
          user_id: userId,
          site: new URL(origin).hostname,
          start_urls: [`${origin}/?run=${run}`],
          max_pages: pagesPerSite,
          deferrals: 0,
        },
        { log, deadlineAt: Date.now() + 600_000, launch: launchBrowser, openSession: openSiteSession },
      ),
    ),
  );
  const wallSeconds = (performance.now() - started) / 1000;
  clearInterval(sampler);

  const pages = reports.reduce(
    (sum, report) =>
      sum + (report.outcome === "done" ? report.pages.filter((p) => p.status === "completed").length : 0),
    0,
  );
  // robots.txt plus each page: that many requests per site, a gap before each but the first.
  const gaps = pagesPerSite;
  const floorSeconds = (gaps * config.SCRAPE_MIN_GAP_MS) / 1000;
  const expectedSeconds = (gaps * (config.SCRAPE_MIN_GAP_MS + config.SCRAPE_MAX_GAP_MS)) / 2 / 1000;
  return {
    sites: sites.origins.length,
    pages_per_site: pagesPerSite,
    pages_read: pages,
    gap_ms: `${config.SCRAPE_MIN_GAP_MS}–${config.SCRAPE_MAX_GAP_MS}`,
    wall_s: Number(wallSeconds.toFixed(2)),
    politeness_floor_s: floorSeconds,
    mean_jitter_bound_s: expectedSeconds,
    efficiency_vs_floor: Number((floorSeconds / wallSeconds).toFixed(2)),
    efficiency_vs_mean_jitter: Number((expectedSeconds / wallSeconds).toFixed(2)),
    pages_per_s: Number((pages / wallSeconds).toFixed(2)),
    peak_rss_mb: Math.round(peak),
  };
}
