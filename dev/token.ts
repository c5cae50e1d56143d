import { z } from "zod";
import { mintSessionToken } from "./auth";
import { loadDevSecrets } from "./env";

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
const baseUrl = process.env.SUPABASE_URL ?? `http://127.0.0.1:${process.env.PORT ?? 3001}`;
const email = option("email");
console.log(
  await mintSessionToken(secrets.auth, baseUrl, userId.data, {
    ...(email ? { email } : {}),
    expiresInSeconds: Number(option("hours") ?? 24) * 3600,
  }),
);
