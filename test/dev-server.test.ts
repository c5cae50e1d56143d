import chromium from "@sparticuz/chromium";
import { chromium as playwright } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type DevServer, startDevServer } from "../dev/server";
import { createUser, secrets, tokenFor } from "./support/helpers";
import { seedQueryRows } from "./support/seed";

/**
 * End to end over HTTP through the local router: production URLs, vercel.json rewrites, the embedded
 * services, and the docs page rendered by real Chromium.
 */
let dev: DevServer;

beforeAll(async () => {
  // The dev server is its own APP_URL and QStash endpoint.
  delete process.env.APP_URL;
  delete process.env.QSTASH_URL;
  dev = await startDevServer({ port: 0, secrets, seed: false });
});

afterAll(async () => {
  await dev?.close();
});

describe("npm run dev", () => {
  it("answers /api/health with 200 and every check up", async () => {
    const response = await fetch(`${dev.url}/api/health`);
    expect(response.status).toBe(200);
    const body = await response.json();
    expect(body.data.status).toBe("ok");
    expect(Object.values(body.data.checks).every((check) => (check as { ok: boolean }).ok)).toBe(true);
  });

  it("serves a query endpoint at its production URL, for the session's own rows only", async () => {
    const owner = await createUser();
    const other = await createUser();
    await seedQueryRows(owner, 4);
    await seedQueryRows(other, 4);
    const token = await tokenFor(owner);
    const own = await fetch(`${dev.url}/api/leads/${owner}?limit=10`, {
      headers: { authorization: `Bearer ${token}` },
    });
    expect(own.status).toBe(200);
    const rows = (await own.json()).data as { user_id: string }[];
    expect(rows).toHaveLength(4);
    expect(rows.every((row) => row.user_id === owner)).toBe(true);
    const theirs = await fetch(`${dev.url}/api/leads/${other}`, {
      headers: { authorization: `Bearer ${token}` },
    });
    expect(theirs.status).toBe(403);
    const anonymous = await fetch(`${dev.url}/api/leads/${owner}`);
    expect(anonymous.status).toBe(401);
  });

  it("answers unknown routes with the 404 envelope and applies vercel.json rewrites", async () => {
    const missing = await fetch(`${dev.url}/api/no-such-thing`);
    expect(missing.status).toBe(404);
    expect((await missing.json()).error.code).toBe("not_found");
    const openapi = await fetch(`${dev.url}/openapi.json`);
    expect(openapi.status).toBe(200);
    const document = await openapi.json();
    expect(document.openapi).toBe("3.1.0");
    expect(Object.keys(document.paths)).toEqual(
      expect.arrayContaining([
        "/api/health",
        "/api/leads/{user_id}",
        "/api/tasks/{user_id}",
        "/api/alerts/{user_id}",
      ]),
    );
    const leadsQuery = document.paths["/api/leads/{user_id}"].get.parameters.map(
      (p: { name: string }) => p.name,
    );
    expect(leadsQuery).toEqual(expect.arrayContaining(["user_id", "limit", "cursor", "status", "min_score"]));
    expect(document.components.schemas.Lead.properties.score).toBeDefined();
  });

  it("renders /docs in Chromium from locally served assets only", async () => {
    process.env.TMPDIR ??= "/tmp";
    const browser = await playwright.launch({
      executablePath: await chromium.executablePath(),
      args: chromium.args,
      headless: true,
    });
    try {
      const page = await browser.newPage();
      const errors: string[] = [];
      const foreign: string[] = [];
      page.on("pageerror", (error) => errors.push(error.message));
      page.on("console", (message) => message.type() === "error" && errors.push(message.text()));
      page.on("request", (request) => {
        if (!request.url().startsWith(dev.url) && !request.url().startsWith("data:")) {
          foreign.push(request.url());
        }
      });
      // Safety nets far above what a loaded machine needs (Playwright's navigation default is 30 s);
      // the rendered text is the signal.
      const response = await page.goto(`${dev.url}/docs`, { timeout: 90_000 });
      expect(response?.status()).toBe(200);
      await page
        .getByText("Leads of the caller's workspaces, highest score first")
        .first()
        .waitFor({ timeout: 90_000 });
      expect(await page.title()).toContain("AI Agent Team API");
      await page.screenshot({ path: `${process.env.TMPDIR}/aat-docs.png` });
      expect(errors.filter((e) => /Content Security Policy|Refused/.test(e))).toEqual([]);
      expect(foreign).toEqual([]);
    } finally {
      await browser.close();
    }
  }, 240_000);
});
