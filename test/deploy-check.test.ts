import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { checkEnvExample, checkMigrations, checkVercelConfig } from "../dev/check-deploy";
import { projectRoot } from "../dev/env";

/**
 * `npm run check:deploy` (CI runs it in full, bundles included): the configuration checks pass on
 * this repository and fail, naming the problem, on a copy with a broken vercel.json and an
 * incomplete .env.example.
 */
const broken = mkdtempSync(join(tmpdir(), "deploy-check-"));
afterAll(() => rmSync(broken, { recursive: true, force: true }));

const failures = (results: { ok: boolean; check: string; detail: string }[]) =>
  results.filter((result) => !result.ok).map((result) => `${result.check}: ${result.detail}`);

describe("deploy check", () => {
  it("passes on this repository: vercel.json, routes, migrations from zero, .env.example", async () => {
    const results = [
      ...(await checkVercelConfig()),
      ...(await checkMigrations()),
      ...(await checkEnvExample()),
    ];
    expect(failures(results)).toEqual([]);
    expect(results.some((result) => result.check === "route /webhook/calendar")).toBe(true);
    expect(results.find((result) => result.check.startsWith("migrations from zero"))?.detail).toMatch(
      /^(\d+) of \1 applied$/,
    );
  });

  it("names what is wrong: a glob matching nothing, a function without limits, a bad limit, a missing variable", async () => {
    cpSync(join(projectRoot, "api"), join(broken, "api"), { recursive: true });
    mkdirSync(join(broken, "api", "extra"));
    writeFileSync(join(broken, "api", "extra", "thing.ts"), "export {};\n");
    const vercel = JSON.parse(readFileSync(join(projectRoot, "vercel.json"), "utf8"));
    vercel.functions["api/jobs/*.ts"] = { maxDuration: 60, memory: 512 };
    vercel.functions["api/*.ts"].maxDuration = 5000;
    writeFileSync(join(broken, "vercel.json"), JSON.stringify(vercel));
    expect(failures(await checkVercelConfig(broken))).toEqual([
      expect.stringMatching(/^vercel\.json: .*maxDuration/s),
    ]);
    vercel.functions["api/*.ts"].maxDuration = 10;
    writeFileSync(join(broken, "vercel.json"), JSON.stringify(vercel));
    expect(failures(await checkVercelConfig(broken))).toEqual([
      'vercel.json functions "api/jobs/*.ts": matches no function',
      "limits for api/extra/thing.ts: no functions entry sets its maxDuration and memory",
    ]);

    const env = readFileSync(join(projectRoot, ".env.example"), "utf8");
    writeFileSync(
      join(broken, ".env.example"),
      `${env.replace(/^CALENDAR_CHANNEL_SECRET=.*$/m, "")}\nNOT_A_SETTING=1\n`,
    );
    expect(failures(await checkEnvExample(broken))).toEqual([
      ".env.example covers the config schema: missing CALENDAR_CHANNEL_SECRET; unknown NOT_A_SETTING",
    ]);
  });
});
