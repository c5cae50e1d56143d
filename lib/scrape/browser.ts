import chromium from "@sparticuz/chromium";
import { type Browser, type BrowserContext, chromium as playwright, type Route } from "playwright-core";
import { getConfig } from "../config";
import { BlockedAddressError } from "./address-guard";
import { FetchLimitError, type GuardedFetcher } from "./fetch";
import type { Decision, RefusalReason, RequestPolicy } from "./request-policy";

/**
 * Headless Chromium for the scrape worker. The browser never touches the network itself: every
 * request of a context is routed through the guarded fetcher and fulfilled from its answer, so the
 * address checks apply to navigations, redirects (each hop is a new routed request), subresources,
 * meta refreshes and script navigations alike. Service workers are blocked (their requests would
 * bypass routing), WebSockets are closed unopened, and a proxy that goes nowhere catches anything
 * that could still slip past routing.
 */

/** What the browser asked for and what became of it, for the report and the politeness log. */
export interface RequestRecord {
  url: string;
  type: string;
  method: string;
  startedAt: number;
  ms: number;
  status: number | null;
  outcome:
    | "fetched"
    | "redirect"
    | "blocked_type"
    | "blocked_address"
    | "refused"
    | "too_large"
    | "timeout"
    | "error";
  /** For a request the policy refused: why. */
  refusal?: RefusalReason;
  reason?: string;
  /** For a navigation answered with a redirect: where to, for the crawler to navigate (and check) itself. */
  location?: string;
  /** A navigation's document as fetched, for when a script replaces the page before it is read. */
  document?: string;
  contentType?: string;
  retryAfter?: string;
}

/** Images, fonts and media are never needed to find contacts; stylesheets neither. */
const skippedTypes = new Set([
  "image",
  "font",
  "media",
  "stylesheet",
  "manifest",
  "texttrack",
  "eventsource",
  "ping",
]);

/** Chromium's own background traffic off; nothing it does may leave except through routing. */
const hardening = [
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--disable-domain-reliability",
  "--dns-prefetch-disable",
  "--no-first-run",
  "--no-pings",
  "--force-webrtc-ip-handling-policy=disable_non_proxied_udp",
  "--webrtc-ip-handling-policy=disable_non_proxied_udp",
];

let unpacked: Promise<string> | undefined;

/**
 * The bundled binary, unpacked once per process. @sparticuz/chromium takes the binary as ready as
 * soon as its file exists, so a second launch during the first one's unpack (concurrent requests
 * in one instance, several sites of one run) would spawn a half-written file (ETXTBSY).
 */
function bundledChromium(): Promise<string> {
  if (!unpacked) {
    unpacked = chromium.executablePath();
    unpacked.catch(() => {
      unpacked = undefined;
    });
  }
  return unpacked;
}

/** One browser per worker invocation; `CHROMIUM_PATH` overrides the bundled binary. */
export async function launchBrowser(): Promise<Browser> {
  const config = getConfig();
  const executablePath = config.CHROMIUM_PATH ?? (await bundledChromium());
  const args = config.CHROMIUM_PATH
    ? ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"]
    : chromium.args;
  return playwright.launch({
    executablePath,
    args: [...args, ...hardening],
    headless: true,
    // Routed requests never reach the proxy; anything unrouted (a redirect the browser would follow
    // on its own, say) dies on the discard port instead of reaching the network.
    proxy: { server: "http://127.0.0.1:9" },
  });
}

export interface SiteSession {
  context: BrowserContext;
  requests: RequestRecord[];
  /**
   * Resolves once no routed request has been in flight for `quietMs` (or after `maxMs`): the page's
   * scripts have finished fetching. Cheaper than Playwright's networkidle, which always waits 500 ms.
   */
  settled(quietMs?: number, maxMs?: number): Promise<void>;
  /** A new page starts (its request budget is whole again). */
  beginPage(): void;
  close(): Promise<void>;
}

/** Runs `work` for one host at a time: one request in flight per domain, inside a visit too. */
function serialPerHost() {
  const tails = new Map<string, Promise<unknown>>();
  return async <T>(host: string, work: () => Promise<T>): Promise<T> => {
    const previous = tails.get(host) ?? Promise.resolve();
    const run = previous.then(work, work);
    tails.set(
      host,
      run.catch(() => undefined),
    );
    return run;
  };
}

const failureReason: Record<RequestRecord["outcome"], Parameters<Route["abort"]>[0]> = {
  fetched: "failed",
  redirect: "aborted",
  blocked_type: "blockedbyclient",
  blocked_address: "addressunreachable",
  refused: "blockedbyclient",
  too_large: "failed",
  timeout: "timedout",
  error: "failed",
};

const maxSubresourceRedirects = 5;
const isRedirect = (status: number) => status >= 300 && status < 400;

function isMainFrame(request: Parameters<Parameters<BrowserContext["route"]>[1]>[1]): boolean {
  try {
    const frame = request.frame();
    return frame === frame.page().mainFrame();
  } catch {
    return false;
  }
}

export async function openSiteSession(
  browser: Browser,
  fetcher: GuardedFetcher,
  userAgent: string,
  policy?: RequestPolicy,
): Promise<SiteSession> {
  const context = await browser.newContext({
    userAgent,
    serviceWorkers: "block",
    acceptDownloads: false,
    javaScriptEnabled: true,
  });
  const requests: RequestRecord[] = [];
  const serial = serialPerHost();
  let inFlight = 0;
  let lastActivity = Date.now();

  await context.routeWebSocket(/.*/, (socket) => socket.close({ code: 1008, reason: "blocked" }));
  await context.route("**/*", async (route, request) => {
    const url = request.url();
    const record: RequestRecord = {
      url,
      type: request.resourceType(),
      method: request.method(),
      startedAt: Date.now(),
      ms: 0,
      status: null,
      outcome: "fetched",
    };
    requests.push(record);
    lastActivity = Date.now();
    if (skippedTypes.has(record.type)) {
      record.outcome = "blocked_type";
      await route.abort(failureReason.blocked_type);
      return;
    }
    let host = "";
    try {
      host = new URL(url).host;
    } catch {
      // reported by the fetcher below
    }
    const navigation = request.isNavigationRequest();
    inFlight += 1;
    let release: (() => Promise<void>) | undefined;
    try {
      const decision: Decision = policy
        ? await policy.admit({
            url,
            method: record.method,
            type: record.type,
            mainFrameNavigation: navigation && isMainFrame(request),
          })
        : { allowed: true };
      if (!decision.allowed) {
        record.outcome = "refused";
        record.refusal = decision.reason;
        record.reason = `refused: ${decision.reason}`;
        await route.abort(navigation ? "aborted" : failureReason.refused).catch(() => undefined);
        return;
      }
      release = decision.release;
      const outgoing = {
        method: request.method(),
        headers: await request.allHeaders(),
        body: request.postDataBuffer(),
      };
      // A redirect fulfilled to the browser would be followed by the browser itself, unrouted; so a
      // navigation's redirect goes back to the crawler, and a subresource's is followed here, one
      // hop at a time, each hop admitted by the policy as if the page had asked for it (a redirect
      // must not carry a script's request to another site).
      let response = await serial(host, () => fetcher.fetch(url, outgoing));
      for (
        let hop = 0;
        !navigation && isRedirect(response.status) && response.headers.get("location");
        hop++
      ) {
        const next = new URL(response.headers.get("location") ?? "", record.url).toString();
        if (hop >= maxSubresourceRedirects) {
          throw new BlockedAddressError(url, `more than ${maxSubresourceRedirects} redirects`);
        }
        const onward: Decision = policy
          ? await policy.admit({
              url: next,
              method: record.method,
              type: record.type,
              mainFrameNavigation: false,
            })
          : { allowed: true };
        if (!onward.allowed) {
          record.outcome = "refused";
          record.refusal = onward.reason;
          record.reason = `refused: ${onward.reason} (redirected to ${next})`;
          await route.abort(failureReason.refused).catch(() => undefined);
          return;
        }
        await release?.().catch(() => undefined);
        release = onward.release;
        record.url = next;
        response = await serial(new URL(next).host, () =>
          fetcher.fetch(next, { ...outgoing, body: undefined }),
        );
      }
      record.status = response.status;
      record.ms = response.ms;
      const location = response.headers.get("location");
      if (navigation && response.status >= 300 && response.status < 400 && location) {
        record.outcome = "redirect";
        record.location = new URL(location, url).toString();
        await route.abort(failureReason.redirect);
        return;
      }
      const headers: Record<string, string> = {};
      response.headers.forEach((value, name) => {
        if (!["content-encoding", "content-length", "transfer-encoding", "connection"].includes(name)) {
          headers[name] = value;
        }
      });
      if (navigation) {
        record.document = response.body.toString("utf8");
        record.contentType = response.headers.get("content-type") ?? "";
        record.retryAfter = response.headers.get("retry-after") ?? undefined;
      }
      await route.fulfill({ status: response.status, headers, body: response.body });
    } catch (error) {
      record.ms = Date.now() - record.startedAt;
      record.reason = error instanceof Error ? error.message : String(error);
      record.outcome =
        error instanceof BlockedAddressError
          ? "blocked_address"
          : error instanceof FetchLimitError
            ? error.kind
            : "error";
      // A refused navigation is cancelled ("aborted"), which leaves the current page in place, as a
      // download would; any other error code would replace it with the browser's error page.
      await route.abort(navigation ? "aborted" : failureReason[record.outcome]).catch(() => undefined);
    } finally {
      await release?.().catch(() => undefined);
      inFlight -= 1;
      lastActivity = Date.now();
    }
  });

  return {
    context,
    requests,
    async settled(quietMs = 150, maxMs = 1500) {
      const deadline = Date.now() + maxMs;
      while (Date.now() < deadline && (inFlight > 0 || Date.now() - lastActivity < quietMs)) {
        await new Promise((resolve) => setTimeout(resolve, 25));
      }
    },
    beginPage: () => policy?.beginPage(),
    close: () => context.close(),
  };
}
