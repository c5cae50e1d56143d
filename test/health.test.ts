import { afterEach, describe, expect, it, vi } from "vitest";
import * as health from "../api/health";
import { call } from "./support/helpers";

const saved = { ...process.env };
afterEach(() => {
  process.env = { ...saved };
  vi.resetModules();
});

/** A fresh module graph (config is read once per process) with some environment changed. */
async function healthWith(env: Record<string, string>) {
  Object.assign(process.env, env);
  vi.resetModules();
  const stack = await import("../dev/stack");
  const close = await stack.useLocalEngines();
  // Open the database first, so a slow start of a fresh embedded engine is not mistaken for an outage.
  await (await import("../lib/db/service")).pingDatabase().catch(() => {});
  const fn = await import("../api/health");
  const res = await call(fn, "GET", "/api/health");
  await (await import("../lib/db/client")).closeDatabase();
  await close();
  return res;
}

describe("GET /api/health", () => {
  it("200 with each check when everything is up", async () => {
    const res = await call(health, "GET", "/api/health");
    expect(res.status).toBe(200);
    expect(res.headers.get("cache-control")).toBe("no-store");
    const checks = (res.body.data as { checks: Record<string, { ok: boolean }> }).checks;
    expect(Object.keys(checks).sort()).toEqual(["database", "queue", "redis"]);
    expect(Object.values(checks).every((check) => check.ok)).toBe(true);
  });

  it("503 naming the database when it is unreachable, without leaking why", async () => {
    const res = await healthWith({ DATABASE_URL: "postgres://postgres:secret-pw@127.0.0.1:1/none" });
    expect(res.status).toBe(503);
    expect(res.headers.get("retry-after")).toBe("10");
    expect(res.body.error?.code).toBe("service_unavailable");
    expect(res.body.error?.message).toBe("Unavailable: database");
    expect(JSON.stringify(res.body)).not.toContain("secret-pw");
  });

  it("503 naming Redis when it is unreachable", async () => {
    const res = await healthWith({
      UPSTASH_REDIS_REST_URL: "http://127.0.0.1:1",
      UPSTASH_REDIS_REST_TOKEN: "token",
      // Never a second engine on the data directory this file already has open.
      PGLITE_DATA_DIR: "memory://",
    });
    expect(res.status).toBe(503);
    expect(res.body.error?.message).toBe("Unavailable: redis");
  });
});
