import { randomUUID } from "node:crypto";
import { eq } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { DevServer } from "../dev/server";
import { startDnsStandIn } from "./stand-ins/dns";
import type { FixtureSites } from "./support/fixture-sites";
import { startFixtureSites } from "./support/fixture-sites";
import { createUser, insertTaskAsFrontend, tokenFor } from "./support/helpers";
import { model } from "./support/model";
import { startTestStack } from "./support/stack";

/**
 * Lead generation with no model configured: the crawl and the rule scoring need none, so the
 * endpoint still answers 202, the fixture sites are read in Chromium and the leads are scored by the
 * rules, and the task's result says the model was not used. Every other agent still answers 503
 * `llm_not_configured`. This file's dev server runs without a provider from the start (the
 * configuration is read once per module graph, and nothing in this file has read it yet).
 */
const modelEnv = ["LLM_BASE_URL", "LLM_API_KEY", "OPENROUTER_API_KEY"] as const;
const savedEnv = Object.fromEntries(modelEnv.map((key) => [key, process.env[key]]));
for (const key of modelEnv) {
  delete process.env[key];
}

let dev: DevServer;
let fixtures: FixtureSites;
let closeDns: () => Promise<void>;
let schema: typeof import("../lib/db/schema");
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
    // core busy): no page here may be cut short by the clock.
    SCRAPE_PAGE_TIMEOUT_MS: "30000",
    SCRAPE_MAX_BYTES: "300000",
    DNS_SERVERS: dns.server,
  });
  schema = await import("../lib/db/schema");
  service = await import("../lib/db/service");
});

afterAll(async () => {
  await dev?.close();
  await fixtures?.close();
  await closeDns?.();
  for (const [key, value] of Object.entries(savedEnv)) {
    if (value !== undefined) {
      process.env[key] = value;
    }
  }
});

const criteria = {
  industries: ["coffee"],
  roles: ["Founder", "Purchasing"],
  locations: ["Bristol"],
  keywords: ["wholesale", "roastery"],
};

async function post(user: string, agent: string, body: Record<string, unknown>) {
  const response = await fetch(`${dev.url}/api/agents/${agent}`, {
    method: "POST",
    headers: {
      authorization: `Bearer ${await tokenFor(user)}`,
      "content-type": "application/json",
      "idempotency-key": randomUUID(),
    },
    body: JSON.stringify({ user_id: user, ...body }),
  });
  // biome-ignore lint/suspicious/noExplicitAny: each test reads the envelope's fields it asserts
  return { status: response.status, body: (await response.json()) as any };
}

async function taskRow(id: string) {
  const db = await service.serviceDb();
  const [row] = await db.select().from(schema.agentTasks).where(eq(schema.agentTasks.id, id));
  return row;
}

/** Waits, boundedly by rounds of the broker (not by the clock), until the task is final. */
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

interface Factor {
  factor: string;
  points: number;
  reason: string;
}

async function leadsOf(taskId: string) {
  const db = await service.serviceDb();
  return db.select().from(schema.leads).where(eq(schema.leads.task_id, taskId));
}

/** What every run without a model must show: rule scores only, and a result that says so. */
async function expectScoredByRules(taskId: string) {
  const task = await finished(taskId);
  expect(task.status, JSON.stringify(task)).toBe("completed");
  const output = task.output as {
    response: string;
    model_judgement: { used: boolean; note: string | null };
    sites: { site: string; status: string }[];
  };
  expect(output.model_judgement).toEqual({
    used: false,
    note: expect.stringMatching(/no model is configured/),
  });
  expect(output.response).toContain("The model did not judge these leads: no model is configured");
  expect(output.sites.map((site) => site.status)).toEqual(["completed"]);
  expect(task).toMatchObject({ model: null, prompt_tokens: 0, completion_tokens: 0 });

  const leads = await leadsOf(taskId);
  const byEmail = new Map(leads.map((lead) => [lead.email ?? `person:${lead.name}`, lead]));
  expect([...byEmail.keys()].sort()).toEqual([
    "hello@northwind-roasters.com",
    "info@northwind-roasters.com",
    "jane@northwind-roasters.com",
    "person:Omar Haddad",
    "sales@northwind-roasters.com",
  ]);
  for (const lead of leads) {
    const factors = lead.score_reasons as Factor[];
    // The rules' four factors scored; the model's is zero and says why.
    expect(factors.map((f) => f.factor)).toEqual([
      "contact_quality",
      "role_fit",
      "criteria_match",
      "signals",
      "model_judgement",
    ]);
    expect(factors.find((f) => f.factor === "model_judgement")).toMatchObject({
      points: 0,
      reason: expect.stringMatching(/^model judgement unavailable \(no model is configured/),
    });
    expect(factors.reduce((sum, f) => sum + f.points, 0)).toBe(lead.score);
  }
  const jane = byEmail.get("jane@northwind-roasters.com");
  const janeFactors = jane?.score_reasons as Factor[];
  expect(janeFactors.find((f) => f.factor === "role_fit")?.points).toBe(25);
  expect(janeFactors.find((f) => f.factor === "contact_quality")?.reason).toContain(
    "domain accepts mail (MX)",
  );
  expect(jane?.score).toBeGreaterThan(0);
  return task;
}

describe("lead generation without a model", () => {
  it("POST answers 202; the sites are crawled and the leads scored by the rules; the result says so", async () => {
    const user = await createUser();
    const { northwind } = fixtures.sites as Record<string, { origin: string }>;
    const started = await post(user, "leadgen-scraper", {
      target_urls: [`${northwind?.origin}/`],
      max_pages_per_site: 4,
      criteria,
    });
    expect(started.status, JSON.stringify(started.body)).toBe(202);
    expect(started.body.data.task.status).toBe("processing");
    await expectScoredByRules(started.body.data.task.id);
    expect(fixtures.requestsTo("northwind").map((request) => request.path)).toContain("/team");
    // setup.ts started the stand-in model, but nothing in this file points at it.
    expect(model.requests).toHaveLength(0);
  });

  it("a lead-generation task the frontend inserts runs too (its input without user_id)", async () => {
    const user = await createUser();
    const { northwind } = fixtures.sites as Record<string, { origin: string }>;
    const task = await insertTaskAsFrontend(user, {
      agent_name: "leadgen-scraper",
      input: { target_urls: [`${northwind?.origin}/`], max_pages_per_site: 4, criteria },
    });
    await expectScoredByRules(task.id);
    expect(model.requests).toHaveLength(0);
  });

  it("every other agent still answers 503 llm_not_configured, and stores nothing", async () => {
    const user = await createUser();
    for (const agent of ["engineer", "product-manager"]) {
      const refused = await post(user, agent, { prompt: "What should we build next?" });
      expect(refused.status, agent).toBe(503);
      expect(refused.body.error.code).toBe("llm_not_configured");
    }
    const db = await service.serviceDb();
    expect(await db.select().from(schema.agentTasks).where(eq(schema.agentTasks.user_id, user))).toEqual([]);
  });
});
