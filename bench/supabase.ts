import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createClient } from "@supabase/supabase-js";
import { sql } from "drizzle-orm";
import type { DevSecrets } from "../dev/env";
import { percentile, round } from "./stats";

/**
 * The frontend's path on the local Supabase, on a dev server of its own over a fresh PGlite directory
 * this section makes and removes (run without DATABASE_URL; it never writes elsewhere): a password sign-in (bcrypt, as Supabase
 * Auth hashes), a page of leads through the local PostgREST against the same page through the API,
 * and how long a committed change takes to reach Realtime subscribers when half of them may not see
 * it (each change checked as each subscriber).
 */
export async function benchSupabase(options: { quick: boolean; secrets: DevSecrets }) {
  const dataDir = mkdtempSync(join(tmpdir(), "aat-bench-supabase-"));
  const saved = process.env.PGLITE_DATA_DIR;
  process.env.PGLITE_DATA_DIR = dataDir;
  const { startDevServer } = await import("../dev/server");
  const dev = await startDevServer({
    port: 0,
    secrets: options.secrets,
    seed: false,
    authSettings: { rate_limit: { sign_in_sign_ups: 1e6, token_verifications: 1e6, token_refresh: 1e6 } },
  });
  try {
    const { serviceDb } = await import("../lib/db/service");
    const { rowsOf } = await import("../lib/db/client");
    const db = await serviceDb();
    const key = options.secrets.supabasePublishableKey;
    const client = () =>
      createClient(dev.url, key, { auth: { persistSession: false, autoRefreshToken: false } });

    /** A confirmed person with a password and 1,000 leads in their workspace. */
    const person = async (index: number) => {
      const email = `bench-${index}-${Date.now()}@bench.test`;
      const supabase = client();
      await supabase.auth.signUp({ email, password: "bench passphrase" });
      await supabase.auth.verifyOtp({ email, token: dev.authMail.latest(email)?.otp ?? "", type: "signup" });
      const { data } = await supabase.auth.getUser();
      return { supabase, email, id: data.user?.id ?? "" };
    };
    const owner = await person(0);
    await db.execute(sql`
      insert into public.leads (workspace_id, user_id, name, email, company, score)
      select ${owner.id}::uuid, ${owner.id}::uuid, 'Lead ' || g, 'lead' || g || '@bench.test', 'Company ' || g, g % 101
      from generate_series(1, 1000) g`);
    await db.execute(sql`analyze public.leads`);

    const runs = options.quick ? 20 : 100;
    const timed = async (fn: () => PromiseLike<unknown>, times: number) => {
      const samples: number[] = [];
      for (let i = 0; i < times; i++) {
        const started = performance.now();
        await fn();
        samples.push(performance.now() - started);
      }
      return { p50_ms: round(percentile(samples, 50), 2), p95_ms: round(percentile(samples, 95), 2) };
    };
    const signIn = await timed(
      () => client().auth.signInWithPassword({ email: owner.email, password: "bench passphrase" }),
      options.quick ? 5 : 20,
    );
    const token = (await owner.supabase.auth.getSession()).data.session?.access_token ?? "";
    const rest = await timed(
      () =>
        owner.supabase
          .from("leads")
          .select("id, name, company, score")
          .order("score", { ascending: false })
          .limit(20),
      runs,
    );
    const api = await timed(
      () =>
        fetch(`${dev.url}/api/leads/${owner.id}?limit=20`, {
          headers: { authorization: `Bearer ${token}` },
        }).then((r) => r.json()),
      runs,
    );

    // Realtime: 4 subscribers in the workspace (members read its leads), 4 strangers; each new lead's
    // delivery to the last member.
    const members = [owner];
    for (let i = 1; i < 4; i++) {
      const member = await person(i);
      await db.execute(
        sql`insert into public.workspace_members (workspace_id, user_id, role) values (${owner.id}, ${member.id}, 'member')`,
      );
      members.push(member);
    }
    const strangers = await Promise.all([4, 5, 6, 7].map((i) => person(i)));
    const arrivals = new Map<string, number[]>();
    let strangerEvents = 0;
    const subscribe = (who: { supabase: ReturnType<typeof client> }, onRow: (id: string) => void) =>
      new Promise<void>((resolve, reject) => {
        who.supabase
          .channel(`bench-${Math.random()}`)
          .on("postgres_changes", { event: "INSERT", schema: "public", table: "leads" }, (change) =>
            onRow(String((change.new as { id: string }).id)),
          )
          .subscribe((status) =>
            status === "SUBSCRIBED"
              ? resolve()
              : status === "CHANNEL_ERROR"
                ? reject(new Error(status))
                : undefined,
          );
      });
    for (const member of members) {
      await subscribe(member, (id) => {
        arrivals.set(id, [...(arrivals.get(id) ?? []), performance.now()]);
      });
    }
    for (const stranger of strangers) {
      await subscribe(stranger, () => {
        strangerEvents++;
      });
    }
    const changes = options.quick ? 20 : 100;
    const delays: number[] = [];
    for (let i = 0; i < changes; i++) {
      const started = performance.now();
      const [row] = rowsOf<{ id: string }>(
        await db.execute(sql`
          insert into public.leads (workspace_id, user_id, name, email) values (${owner.id}, ${owner.id}, 'Live lead', ${`live-${i}@bench.test`})
          returning id`),
      );
      const id = String(row?.id ?? "");
      while ((arrivals.get(id)?.length ?? 0) < members.length) {
        if (performance.now() - started > 30_000) {
          throw new Error(
            `change ${i} reached ${arrivals.get(id)?.length ?? 0} of ${members.length} members in 30 s`,
          );
        }
        await new Promise((resolve) => setTimeout(resolve, 1));
      }
      delays.push(Math.max(...(arrivals.get(id) ?? [])) - started);
    }
    return {
      sign_in: signIn,
      rest_page_of_leads: rest,
      api_page_of_leads: api,
      realtime: {
        changes,
        subscribers: members.length + strangers.length,
        to_last_member_p50_ms: round(percentile(delays, 50), 1),
        to_last_member_p95_ms: round(percentile(delays, 95), 1),
        delivered_to_strangers: strangerEvents,
      },
    };
  } finally {
    await dev.close();
    process.env.PGLITE_DATA_DIR = saved ?? "";
    rmSync(dataDir, { recursive: true, force: true });
  }
}
