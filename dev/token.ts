import { existsSync, readFileSync } from "node:fs";
import { z } from "zod";
import { mintSessionToken } from "./auth";
import { devServerFile, loadDevSecrets } from "./env";

// npm run token -- <user-uuid> [--email a@b.c] [--hours 24]
const args = process.argv.slice(2);
const userId = z.uuid().safeParse(args[0]);
if (!userId.success) {
  console.error("usage: npm run token -- <user-uuid> [--email address] [--hours N]");
  process.exit(2);
}
const option = (name: string) => {
  const index = args.indexOf(`--${name}`);
  return index >= 0 ? args[index + 1] : undefined;
};
const secrets = await loadDevSecrets();
/**
 * The token's issuer must be the running server's Supabase URL, or it refuses the token: read it from
 * the file `npm run dev` writes while it runs (dev/server.ts), else SUPABASE_URL, else the default port.
 */
function issuerBase(): { url: string; from: string } {
  if (process.env.SUPABASE_URL) {
    return { url: process.env.SUPABASE_URL, from: "SUPABASE_URL" };
  }
  const file = devServerFile();
  if (existsSync(file)) {
    const running = z
      .object({ pid: z.number(), url: z.url() })
      .safeParse(JSON.parse(readFileSync(file, "utf8")));
    if (running.success && isRunning(running.data.pid)) {
      return { url: running.data.url, from: `the running dev server (pid ${running.data.pid})` };
    }
  }
  return {
    url: `http://127.0.0.1:${process.env.PORT ?? 3001}`,
    from: "no running dev server found: assumed the default port (set PORT or SUPABASE_URL)",
  };
}

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

const { url: baseUrl, from } = issuerBase();
console.error(`token for ${baseUrl} (${from})`);
const email = option("email");
console.log(
  await mintSessionToken(secrets.auth, baseUrl, userId.data, {
    ...(email ? { email } : {}),
    expiresInSeconds: Number(option("hours") ?? 24) * 3600,
  }),
);
