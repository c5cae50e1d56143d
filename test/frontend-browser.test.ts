import { readFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { createRequire } from "node:module";
import type { AddressInfo } from "node:net";
import chromium from "@sparticuz/chromium";
import { createClient } from "@supabase/supabase-js";
import { chromium as playwright } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { DevServer } from "../dev/server";
import { secrets } from "./support/helpers";
import { startTestStack } from "./support/stack";

/**
 * The frontend's journey in a real browser, with web security on (CORS enforced): a page on a
 * `localhost` origin loads supabase-js, signs in against the dev server (another origin), starts a
 * task by insert and shows its progress arriving through Realtime.
 */
const supabaseUmd = readFileSync(
  createRequire(import.meta.url).resolve("@supabase/supabase-js/dist/umd/supabase.js"),
  "utf8",
);
let dev: DevServer;
let page: Server;
let pageOrigin: string;
const email = `browser-${Date.now()}@example.test`;
const password = "correct horse battery";

const html = (supabaseUrl: string) => `<!doctype html>
<html><head><meta charset="utf-8"><title>tasks</title><script src="/supabase.js"></script></head>
<body><p id="state">loading</p><ul id="events"></ul>
<script>
  const show = (text) => { const li = document.createElement("li"); li.textContent = text; document.getElementById("events").append(li); };
  const state = (text) => { document.getElementById("state").textContent = text; };
  (async () => {
    try {
      // A join's TIMED_OUT comes after 10 s by default, which a loaded machine can take: a minute here.
      const supabase = window.supabase.createClient(${JSON.stringify(supabaseUrl)}, ${JSON.stringify(secrets.supabasePublishableKey)}, { realtime: { timeout: 60000 } });
      const signIn = await supabase.auth.signInWithPassword({ email: ${JSON.stringify(email)}, password: ${JSON.stringify(password)} });
      if (signIn.error) throw signIn.error;
      const me = signIn.data.user.id;
      await new Promise((resolve, reject) => {
        supabase.channel("mine")
          .on("postgres_changes", { event: "*", schema: "public", table: "agent_tasks", filter: "workspace_id=eq." + me },
            (change) => show(change.eventType + " " + change.new.status))
          .subscribe((status, error) => status === "SUBSCRIBED" ? resolve() : status !== "CLOSED" && status !== "JOINING" && reject(error ?? new Error(status)));
      });
      state("subscribed");
      const inserted = await supabase.from("agent_tasks")
        .insert({ workspace_id: me, agent_name: "engineer", input: { prompt: "A function that reverses a string" } })
        .select("id").single();
      if (inserted.error) throw inserted.error;
      state("started " + inserted.data.id);
    } catch (error) {
      state("error: " + (error && error.message ? error.message : String(error)));
    }
  })();
</script></body></html>`;

beforeAll(async () => {
  page = createServer((request, response) => {
    if (request.url === "/supabase.js") {
      response.writeHead(200, { "content-type": "text/javascript" }).end(supabaseUmd);
    } else {
      response.writeHead(200, { "content-type": "text/html; charset=utf-8" }).end(html(dev.url));
    }
  });
  await new Promise<void>((resolve) => page.listen(0, "127.0.0.1", resolve));
  pageOrigin = `http://localhost:${(page.address() as AddressInfo).port}`;
  dev = await startTestStack({ FRONTEND_ORIGIN: pageOrigin });
  // The person signed up and confirmed their address, as the app's sign-up page would have them do.
  const supabase = createClient(dev.url, secrets.supabasePublishableKey, {
    auth: { persistSession: false, autoRefreshToken: false },
  });
  await supabase.auth.signUp({ email, password });
  const code = dev.authMail.latest(email)?.otp ?? "";
  const { error } = await supabase.auth.verifyOtp({ email, token: code, type: "signup" });
  expect(error).toBeNull();
});

afterAll(async () => {
  await dev?.close();
  await new Promise((resolve) => page?.close(resolve));
});

describe("a page on the frontend's origin, in Chromium with web security on", () => {
  it("signs in, starts a task by insert and shows it run to completed live", async () => {
    process.env.TMPDIR ??= "/tmp";
    const browser = await playwright.launch({
      executablePath: await chromium.executablePath(),
      // @sparticuz/chromium turns web security off by default, which would hide a missing CORS header.
      args: chromium.args.filter(
        (arg) => !/^--disable-web-security|^--allow-running-insecure-content/.test(arg),
      ),
      headless: true,
    });
    try {
      const tab = await browser.newPage();
      const problems: string[] = [];
      tab.on("console", (message) => message.type() === "error" && problems.push(message.text()));
      tab.on("pageerror", (error) => problems.push(error.message));
      // Playwright's own navigation timeout is 30 s by default: raised with the waits below.
      await tab.goto(`${pageOrigin}/`, { timeout: 90_000 });
      // Generous waits: the machine may be busy; the page reports each step explicitly.
      await tab.getByText(/^started |^error: /).waitFor({ timeout: 90_000 });
      expect(await tab.locator("#state").textContent(), problems.join("\n")).toMatch(/^started /);
      await tab.getByText("UPDATE completed").waitFor({ timeout: 90_000 });
      const events = await tab.locator("#events li").allTextContents();
      expect(events[0]).toBe("INSERT queued");
      expect(events.at(-1)).toBe("UPDATE completed");
      expect(problems.filter((text) => /CORS|Access-Control/i.test(text))).toEqual([]);
    } finally {
      await browser.close();
    }
  }, 200_000);
});
