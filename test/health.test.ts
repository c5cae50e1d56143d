import { describe, expect, it } from "vitest";
import * as health from "../api/health";
import { withFreshModules } from "./support/fresh";
import { call } from "./support/helpers";

/** The health function in a module graph whose configuration points somewhere else. */
async function healthWith(env: Record<string, string>) {
  const restore = await withFreshModules(env);
  try {
    return await call(await import("../api/health"), "GET", "/api/health");
  } finally {
    await restore();
  }
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
    });
    expect(res.status).toBe(503);
    expect(res.body.error?.message).toBe("Unavailable: redis");
  });
});
