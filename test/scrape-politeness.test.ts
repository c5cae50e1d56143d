import { randomUUID } from "node:crypto";
import { describe, expect, it } from "vitest";
import {
  clearDomainBackoff,
  domainBackoffUntil,
  parseRetryAfter,
  recordDomainFailure,
} from "../lib/scrape/backoff";
import { waitForTurn } from "../lib/scrape/politeness";

describe("per-domain politeness", () => {
  // The gaps are lower bounds, which a slow machine only widens; the wait for a turn is a safety net,
  // a minute so that four workers taking turns on a loaded machine never run out of it.
  const rules = { minGapMs: 150, maxGapMs: 250, waitMs: 60_000 };

  it("serialises requests to one domain with at least the gap between them, across concurrent workers", async () => {
    const domain = `${randomUUID()}.example`;
    const spans: { start: number; end: number }[] = [];
    let inFlight = 0;
    let maxInFlight = 0;
    await Promise.all(
      Array.from({ length: 4 }, async () => {
        const turn = await waitForTurn(domain, rules);
        expect(turn).toBeDefined();
        inFlight += 1;
        maxInFlight = Math.max(maxInFlight, inFlight);
        await new Promise((resolve) => setTimeout(resolve, 20));
        inFlight -= 1;
        spans.push({ start: turn?.startedAt ?? 0, end: Date.now() });
        await turn?.done();
      }),
    );
    expect(maxInFlight).toBe(1);
    spans.sort((a, b) => a.start - b.start);
    for (let i = 1; i < spans.length; i++) {
      const gap = (spans[i]?.start ?? 0) - (spans[i - 1]?.end ?? 0);
      expect(gap).toBeGreaterThanOrEqual(rules.minGapMs - 5);
    }
  });

  it("honours a Crawl-delay longer than the gap", async () => {
    const domain = `${randomUUID()}.example`;
    const first = await waitForTurn(domain, { ...rules, crawlDelaySeconds: 0.6 });
    // The gap counts from the end `done()` records, which is no earlier than this; read after
    // `done()` returned, the end would include its round trips, which a busy machine makes long.
    const ended = Date.now();
    await first?.done();
    const second = await waitForTurn(domain, { ...rules, crawlDelaySeconds: 0.6 });
    expect((second?.startedAt ?? 0) - ended).toBeGreaterThanOrEqual(590);
    await second?.done();
  });

  it("different domains do not wait for each other", async () => {
    const a = await waitForTurn(`${randomUUID()}.example`, rules);
    const b = await waitForTurn(`${randomUUID()}.example`, { ...rules, waitMs: 0 });
    expect(a).toBeDefined();
    expect(b).toBeDefined();
    await a?.done();
    await b?.done();
  });

  it("gives up when the domain stays busy past the wait", async () => {
    const domain = `${randomUUID()}.example`;
    const holder = await waitForTurn(domain, rules);
    expect(await waitForTurn(domain, { ...rules, waitMs: 100 })).toBeUndefined();
    await holder?.done();
  });
});

describe("domain backoff", () => {
  it("backs off exponentially, never shorter than Retry-After, and clears on success", async () => {
    const domain = `${randomUUID()}.example`;
    expect(await domainBackoffUntil(domain)).toBeUndefined();
    // The backoff runs from the moment the failure is recorded, somewhere between the call and its
    // answer: bracketed by the two, so the check holds however long a busy machine takes for it.
    const backsOff = async (failure: Parameters<typeof recordDomainFailure>[1], seconds: number) => {
      const before = Date.now();
      const until = (await recordDomainFailure(domain, failure)).getTime();
      const after = Date.now();
      // A millisecond either way for the database's clock read (microseconds) against Date.now().
      expect(until).toBeGreaterThanOrEqual(before + seconds * 1000 - 1);
      expect(until).toBeLessThanOrEqual(after + seconds * 1000 + 1);
    };
    await backsOff({ status: 503, reason: "503" }, 60);
    await backsOff({ status: 503, reason: "503" }, 120);
    await backsOff({ status: 429, reason: "429", retryAfterSeconds: 3600 }, 3600);
    expect(await domainBackoffUntil(domain)).toBeInstanceOf(Date);
    await clearDomainBackoff(domain);
    expect(await domainBackoffUntil(domain)).toBeUndefined();
  });

  it("reads Retry-After as seconds or as an HTTP date", () => {
    const now = Date.parse("2026-11-24T12:00:00Z");
    expect(parseRetryAfter("120", now)).toBe(120);
    expect(parseRetryAfter("Tue, 24 Nov 2026 12:05:00 GMT", now)).toBe(300);
    expect(parseRetryAfter("soon", now)).toBeUndefined();
    expect(parseRetryAfter(null, now)).toBeUndefined();
  });
});
