import { describe, expect, it } from "vitest";
import { secrets } from "./support/helpers";

/**
 * `npm run demo` as a test: the whole journey over HTTP on this file's database and Redis. The demo
 * checks each step's stored data itself and throws on the first wrong one.
 */
describe("npm run demo", () => {
  it("walks a new user from session to reminder, every step's data as expected", async () => {
    delete process.env.APP_URL;
    delete process.env.QSTASH_URL;
    process.env.TMPDIR ??= "/tmp";
    const { runDemo } = await import("../dev/demo");
    const lines: string[] = [];
    const report = await runDemo({ secrets, print: (line) => lines.push(line) });
    expect(report.steps.map((step) => step.name.split(".")[0])).toEqual(
      Array.from({ length: 10 }, (_, i) => String(i + 1)),
    );
    const output = lines.join("\n");
    expect(output).toContain("jane@northwind-roasters.com is replied");
    expect(output).toMatch(
      /follow-up to hello@northwind-roasters\.com: cancelled \(someone at Northwind Roasters replied\)/,
    );
    expect(output).toMatch(/call script .* citing lead\.name, lead\.role, email\.1/);
    expect(output).toMatch(/sam@brightcup\.example joined; sees \d+ leads/);
    expect(output).toContain("✔ The whole journey held.");
  }, 180_000);
});
