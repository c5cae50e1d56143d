/**
 * `npm run demo`: one new user's whole journey through the product, over HTTP against the local
 * stack, with the stand-in model, Gmail and Calendar and the fixture sites of the test suite:
 * session and a personal workspace → the business's Google account connected through the consent
 * flow → lead generation → scored leads → drafts → approval → sends → a reply by push → the
 * sequence stops with an alert → a booked meeting → its call script → its reminder → a colleague
 * invited by email, who joins and sees the same leads. Each step prints what was stored; a step
 * whose data is wrong stops the run with a non-zero exit.
 */
import { randomUUID } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { and, eq, sql } from "drizzle-orm";
import { cannedReply } from "../test/stand-ins/canned";
import { startDnsStandIn } from "../test/stand-ins/dns";
import { StandInModel } from "../test/stand-ins/openrouter";
import { startFixtureSites } from "../test/support/fixture-sites";
import { mintSessionToken } from "./auth";
import { type DevSecrets, generateSecrets } from "./env";
import { connectThroughConsent, StandInGoogle } from "./stand-ins/google";

export class DemoFailure extends Error {}

export interface DemoOptions {
  /** Where each step's report goes (default: stdout). */
  print?: (line: string) => void;
  /** The stack's secrets (a test passes its own); fresh ones otherwise. */
  secrets?: DevSecrets;
}

export interface DemoReport {
  userId: string;
  steps: { name: string; stored: string[] }[];
}

function check(condition: unknown, message: string): asserts condition {
  if (!condition) {
    throw new DemoFailure(message);
  }
}

const sender = "alex@brightcup.example";
const pushAudience = "https://brightcup.example/webhook/email";
const pushAccount = "gmail-push@brightcup-demo.iam.gserviceaccount.com";

/** The next weekday at least two days out, at 10:00 UTC. */
function meetingSlot(): Date {
  const day = new Date(Date.now() + 2 * 86_400_000);
  while (day.getUTCDay() === 0 || day.getUTCDay() === 6) {
    day.setUTCDate(day.getUTCDate() + 1);
  }
  day.setUTCHours(10, 0, 0, 0);
  return day;
}

export async function runDemo(options: DemoOptions = {}): Promise<DemoReport> {
  const print = options.print ?? ((line: string) => console.log(line));
  const model = new StandInModel(cannedReply);
  const google = new StandInGoogle();
  google.mailbox = sender;
  const fixtures = await startFixtureSites();
  const dns = await startDnsStandIn({ "northwind-roasters.com": "mail.northwind-roasters.com" });
  await google.start();
  const ownData = !process.env.DATABASE_URL && !process.env.PGLITE_DATA_DIR;
  const dataDir = ownData ? mkdtempSync(join(tmpdir(), "demo-pglite-")) : undefined;
  Object.assign(process.env, {
    LLM_BASE_URL: await model.start(),
    LLM_API_KEY: "stand-in",
    ...google.oauthEnv(),
    GMAIL_PUSH_TOPIC: "projects/brightcup-demo/topics/gmail-push",
    GMAIL_PUSH_AUDIENCE: pushAudience,
    GMAIL_PUSH_SERVICE_ACCOUNT: pushAccount,
    EMAIL_MIN_GAP_SECONDS: "0",
    EMAIL_GAP_JITTER_SECONDS: "0",
    SCRAPE_ALLOW_HOSTS: fixtures.allowHosts,
    SCRAPE_MIN_GAP_MS: "300",
    SCRAPE_MAX_GAP_MS: "500",
    SCRAPE_PAGE_TIMEOUT_MS: "5000",
    DNS_SERVERS: dns.server,
    LOG_LEVEL: process.env.LOG_LEVEL ?? "warn",
    ...(dataDir ? { PGLITE_DATA_DIR: dataDir } : {}),
  });
  process.env.TMPDIR ??= "/tmp";
  const { startDevServer } = await import("./server");
  const dev = await startDevServer({
    port: 0,
    secrets: options.secrets ?? (await generateSecrets()),
    seed: false,
    standInGoogle: false,
    retryDelayMs: () => 50,
  });
  const db = await import("../lib/db/schema");
  const { serviceDb } = await import("../lib/db/service");
  const store = await serviceDb();
  const report: DemoReport = { userId: randomUUID(), steps: [] };
  const user = report.userId;

  let token = "";
  const api = async (method: string, path: string, body?: unknown, headers: Record<string, string> = {}) => {
    const response = await fetch(`${dev.url}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${token}`,
        ...(body === undefined ? {} : { "content-type": "application/json" }),
        ...headers,
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const json = (await response.json()) as { success: boolean; data?: unknown; error?: { message: string } };
    check(
      response.ok,
      `${method} ${path} answered ${response.status}: ${json.error?.message ?? JSON.stringify(json)}`,
    );
    return json.data as Record<string, unknown> & unknown[];
  };
  const step = async (name: string, run: () => Promise<string[]>) => {
    print(`\n▶ ${name}`);
    const stored = await run();
    for (const line of stored) {
      print(`   ${line}`);
    }
    report.steps.push({ name, stored });
  };
  const settle = () => dev.broker.settle(300, 120_000);

  try {
    await step("1. Sign up: a Supabase session for a new user, and their own workspace", async () => {
      await store.execute(
        sql`insert into auth.users (id, email, raw_user_meta_data) values (${user}, 'owner@brightcup.example', '{"company":"Brightcup"}')`,
      );
      token = await mintSessionToken(dev.secrets.auth, process.env.SUPABASE_URL ?? dev.url, user, {
        email: "owner@brightcup.example",
      });
      const workspaces = (await api("GET", "/api/workspaces")) as unknown as {
        id: string;
        name: string;
        role: string;
      }[];
      check(
        workspaces.length === 1 && workspaces[0]?.id === user && workspaces[0].role === "owner",
        `expected one workspace the user owns, got ${JSON.stringify(workspaces)}`,
      );
      // The demo sends at once whatever the hour it runs; a business keeps the default window
      // (weekdays 09:00-17:00 in each lead's local time).
      await api("PATCH", `/api/workspaces/${user}`, {
        postal_address: "Brightcup Ltd, 4 Mill Lane, Bath BA1 1AA, United Kingdom",
        sending_hours: "00:00-24:00",
        sending_days: "1-7",
      });
      return [
        `user ${user}`,
        `workspace "${workspaces[0]?.name}" (${user}), owner`,
        "sending window: every hour of every day, in each lead's local time (the demo's; the default is weekdays 09:00-17:00)",
      ];
    });

    await step("2. Connect the business's Google account (OAuth consent, PKCE, sealed token)", async () => {
      const landed = await connectThroughConsent({
        app: (path, init) => fetch(`${dev.url}${path}`, init),
        appUrl: dev.url,
        google,
        account: google,
        session: token,
        workspaceId: user,
      });
      check(landed.searchParams.get("google") === "connected", `the consent flow ended at ${landed}`);
      const connections = (await api("GET", `/api/google/connections?workspace_id=${user}`)) as unknown as {
        email: string;
        status: string;
      }[];
      check(
        connections[0]?.email === sender && connections[0].status === "active",
        "the account is not connected",
      );
      const [row] = await store
        .select()
        .from(db.googleConnections)
        .where(eq(db.googleConnections.workspace_id, user));
      check(row?.refresh_token_ciphertext?.startsWith("v1."), "the refresh token is not sealed");
      return [`${sender} connected`, `refresh token stored sealed (key ${row?.token_key_id})`];
    });

    let leadIds: string[] = [];
    await step("3. Lead generation on a real site, read by Chromium", async () => {
      const started = await api("POST", "/api/agents/leadgen-scraper", {
        user_id: user,
        target_urls: [`${fixtures.sites.northwind?.origin}/`],
        max_pages_per_site: 4,
        criteria: { industries: ["coffee"], roles: ["Founder", "Purchasing"], keywords: ["wholesale"] },
        prompt: "Find roasteries that buy packaging wholesale",
      });
      const taskId = (started.task as { id: string }).id;
      await settle();
      const [task] = await store.select().from(db.agentTasks).where(eq(db.agentTasks.id, taskId));
      check(task?.status === "completed", `lead generation ended ${task?.status}: ${task?.error ?? ""}`);
      const pages = fixtures.requestsTo("northwind").length;
      check(pages > 0, "no page of the site was fetched");
      return [`task ${taskId} completed`, `${pages} requests to the site (robots.txt included)`];
    });

    await step("4. Leads, scored with reasons", async () => {
      const page = await api("GET", `/api/leads/${user}?min_score=1&limit=50`);
      const leads = page as unknown as {
        id: string;
        email: string | null;
        name: string | null;
        score: number;
      }[];
      const withEmail = leads.filter((lead) => lead.email);
      check(withEmail.length >= 2, `expected at least two leads with an address, got ${withEmail.length}`);
      const [top] = await store
        .select()
        .from(db.leads)
        .where(eq(db.leads.id, withEmail[0]?.id ?? ""));
      check(((top?.score_reasons ?? []) as unknown[]).length >= 4, "the top lead's score is not explained");
      leadIds = withEmail.slice(0, 2).map((lead) => lead.id);
      return [
        ...leads.map((lead) => `${String(lead.score).padStart(3)}  ${lead.email ?? lead.name}`),
        `top lead's reasons: ${((top?.score_reasons ?? []) as { factor: string; points: number }[]).map((r) => `${r.factor} ${r.points}`).join(", ")}`,
      ];
    });

    let campaignId = "";
    let draftIds: string[] = [];
    await step("5. Outbound drafts from each lead's own data", async () => {
      const [campaign] = await store
        .insert(db.campaigns)
        .values({
          workspace_id: user,
          user_id: user,
          name: "Roastery packaging",
          status: "active",
          steps: [{ day_offset: 3, instructions: "A short nudge with one new fact" }],
        })
        .returning();
      campaignId = campaign?.id ?? "";
      const drafted = await api("POST", "/api/agents/outbound-emailer", {
        user_id: user,
        lead_ids: leadIds,
        campaign_id: campaignId,
      });
      const emails = (
        drafted.result as { emails: { id: string; to: string; status: string; subject: string }[] }
      ).emails;
      check(emails.length === 2 && emails.every((e) => e.status === "drafted"), "two drafts were expected");
      draftIds = emails.map((email) => email.id);
      return emails.map((email) => `drafted to ${email.to}: "${email.subject}"`);
    });

    await step("6. Approve and send (stand-in Gmail, paced, at most once)", async () => {
      await api("POST", "/api/agents/outbound-emailer", { user_id: user, event_ids: draftIds, mode: "send" });
      dev.broker.triggerSchedule("gmail-watch");
      await settle();
      const sent = await store.select().from(db.emailEvents).where(sql`${db.emailEvents.id} in ${draftIds}`);
      check(
        sent.every((row) => row.event_type === "sent" && row.gmail_message_id),
        `not all sent: ${sent.map((row) => row.event_type).join(", ")}`,
      );
      check(google.sent.length === 2, `Gmail received ${google.sent.length} messages, expected 2`);
      check(
        sent.every((row) => row.from_email === sender),
        "not sent from the workspace's mailbox",
      );
      return sent.map(
        (row) => `sent to ${row.to_email} as ${row.message_id} (Gmail id ${row.gmail_message_id})`,
      );
    });

    let repliedLead = "";
    await step(
      "7. A reply arrives by Gmail push; the sequence stops for that lead and an alert appears",
      async () => {
        const [first] = await store
          .select()
          .from(db.emailEvents)
          .where(and(eq(db.emailEvents.id, draftIds[0] ?? ""), eq(db.emailEvents.user_id, user)));
        check(first?.gmail_thread_id && first.lead_id, "the first email has no thread");
        repliedLead = first.lead_id;
        google.receive({
          threadId: first.gmail_thread_id,
          headers: {
            From: `<${first.to_email}>`,
            Subject: `Re: ${first.subject}`,
            "In-Reply-To": first.message_id ?? "",
          },
          snippet: "Yes please, send me your wholesale prices.",
        });
        const pushed = await fetch(`${dev.url}/webhook/email`, {
          method: "POST",
          headers: {
            "content-type": "application/json",
            authorization: `Bearer ${await google.signPushToken({ aud: pushAudience, email: pushAccount })}`,
          },
          body: JSON.stringify(google.pushBody(sender)),
        });
        check(pushed.status === 200, `the push was answered ${pushed.status}`);
        await settle();
        const [lead] = await store.select().from(db.leads).where(eq(db.leads.id, repliedLead));
        check(lead?.status === "replied", `the lead is ${lead?.status}, not replied`);
        const alerts = (await api("GET", `/api/alerts/${user}?limit=20`)) as unknown as {
          type: string;
          title: string;
        }[];
        const alert = alerts.find((a) => a.type === "email.replied");
        check(alert, "no reply alert");

        // Days later the follow-up schedule runs. Both leads work at the same company, so the reply
        // stops the sequence for both: a step written for the other lead is cancelled, never sent.
        await store
          .update(db.emailEvents)
          .set({ sent_at: new Date(Date.now() - 4 * 86_400_000).toISOString() })
          .where(sql`${db.emailEvents.id} in ${draftIds}`);
        dev.broker.triggerSchedule("follow-ups");
        await settle();
        const followUps = await store
          .select()
          .from(db.emailEvents)
          .where(and(eq(db.emailEvents.campaign_id, campaignId), eq(db.emailEvents.sequence_step, 1)));
        const sentAfterReply = google.sent.length - 2;
        check(followUps.length > 0, "the follow-up schedule wrote no step");
        check(
          sentAfterReply === 0 && followUps.every((f) => f.event_type === "cancelled"),
          `follow-ups after the reply: ${followUps.map((f) => `${f.to_email} ${f.event_type}`).join(", ")}`,
        );
        return [
          `lead ${lead?.email} is replied`,
          `alert: ${alert.title}`,
          ...followUps.map((f) => `follow-up to ${f.to_email}: ${f.event_type} (${f.error})`),
          "nothing more reached Gmail",
        ];
      },
    );

    let meetingId = "";
    const slot = meetingSlot();
    await step("8. A meeting is booked in Google Calendar (stand-in), with a call script", async () => {
      const booked = await api("POST", "/api/agents/booking-callprep", {
        user_id: user,
        lead_id: repliedLead,
        scheduled_time: slot.toISOString(),
        duration_minutes: 30,
        time_zone: "Europe/London",
      });
      const result = booked.result as {
        booking: { booked: boolean; google_event_id: string; calendar_event_id: string; meeting_url: string };
        call_script: { id: string; opening: { text: string; sources: string[] } };
        response: string;
      };
      check(result.booking.booked && google.events.has(result.booking.google_event_id), "nothing was booked");
      meetingId = result.booking.calendar_event_id;
      const [script] = await store
        .select()
        .from(db.callScripts)
        .where(eq(db.callScripts.id, result.call_script.id));
      const cited = ((script?.sources ?? []) as { ref: string }[]).map((source) => source.ref);
      check(
        cited.some((ref) => ref.startsWith("lead.")),
        "the script cites nothing of the lead",
      );
      check(
        cited.some((ref) => ref.startsWith("email.")),
        "the script cites nothing of the email thread",
      );
      return [
        `booked ${slot.toISOString()} (Google event ${result.booking.google_event_id}, ${result.booking.meeting_url})`,
        `call script ${script?.id} citing ${cited.join(", ")}`,
      ];
    });

    await step("9. The reminder is queued for 30 minutes before the meeting", async () => {
      const [meeting] = await store
        .select()
        .from(db.calendarEvents)
        .where(eq(db.calendarEvents.id, meetingId));
      const reminder = ((meeting?.metadata ?? {}) as { reminder?: { message_id: string; due_at: string } })
        .reminder;
      check(reminder, "the meeting has no reminder");
      check(
        reminder.due_at === new Date(slot.getTime() - 30 * 60_000).toISOString(),
        `the reminder is due ${reminder.due_at}`,
      );
      check(dev.broker.messages.has(reminder.message_id), "the reminder message is not queued");
      return [`reminder ${reminder.message_id} due ${reminder.due_at}`];
    });
    await step("10. A colleague is invited by email, joins, and works on the same leads", async () => {
      const colleague = randomUUID();
      const address = "sam@brightcup.example";
      const invitation = await api("POST", `/api/workspaces/${user}/invitations`, {
        email: address,
        role: "member",
      });
      check(invitation.delivery === "sent", `the invitation was ${String(invitation.delivery)}`);
      const mail = google.sent.find((message) => message.to?.includes(address));
      const { simpleParser } = await import("mailparser");
      const text = (await simpleParser(mail?.mime ?? "")).text ?? "";
      const invitationToken = /token=([\w-]+)/.exec(text)?.[1];
      check(invitationToken, "the invitation email carries no token");
      await store.execute(sql`insert into auth.users (id, email) values (${colleague}, ${address})`);
      const colleagueToken = await mintSessionToken(
        dev.secrets.auth,
        process.env.SUPABASE_URL ?? dev.url,
        colleague,
        {
          email: address,
        },
      );
      const joined = await fetch(`${dev.url}/api/invitations/accept`, {
        method: "POST",
        headers: { authorization: `Bearer ${colleagueToken}`, "content-type": "application/json" },
        body: JSON.stringify({ token: invitationToken }),
      });
      check(joined.status === 200, `accepting answered ${joined.status}`);
      const theirLeads = await fetch(`${dev.url}/api/leads/${colleague}?workspace_id=${user}`, {
        headers: { authorization: `Bearer ${colleagueToken}` },
      });
      const page = (await theirLeads.json()) as { data: { id: string }[] };
      check(
        page.data.some((lead) => lead.id === repliedLead),
        "the colleague does not see the workspace's leads",
      );
      return [
        `invitation ${String(invitation.id)} emailed from ${sender}`,
        `${address} joined; sees ${page.data.length} leads`,
      ];
    });
    print("\n✔ The whole journey held.");
    return report;
  } finally {
    await dev.close();
    await google.close();
    await model.close();
    await fixtures.close();
    await dns.close();
    if (dataDir) {
      rmSync(dataDir, { recursive: true, force: true });
    }
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  runDemo()
    .then(() => process.exit(0))
    .catch((error: unknown) => {
      console.error(
        `\n✘ ${error instanceof DemoFailure ? error.message : String((error as Error).stack ?? error)}`,
      );
      process.exit(1);
    });
}
