/**
 * Typed mirror of `supabase/migrations` for the query builder. The SQL is the source of truth;
 * `test/db-schema.test.ts` fails when a column here and in the database disagree.
 */
import { boolean, integer, jsonb, numeric, pgTable, text, timestamp, uuid } from "drizzle-orm/pg-core";

// Timestamps stay as Postgres text so keyset cursors keep microseconds.
const ts = (name: string) => timestamp(name, { withTimezone: true, mode: "string" });
const json = <T = unknown>(name: string) => jsonb(name).$type<T>();

const owned = {
  id: uuid("id").primaryKey().defaultRandom(),
  userId: uuid("user_id").notNull(),
  metadata: json<Record<string, unknown>>("metadata").notNull().default({}),
  createdAt: ts("created_at").notNull().defaultNow(),
  updatedAt: ts("updated_at").notNull().defaultNow(),
};

export const agentNames = [
  "product-manager",
  "finance-manager",
  "marketing-strategist",
  "leadgen-scraper",
  "outbound-emailer",
  "booking-callprep",
  "engineer",
] as const;
export type AgentName = (typeof agentNames)[number];

export const taskStatuses = ["queued", "processing", "completed", "failed", "cancelled"] as const;
export const leadStatuses = [
  "new",
  "contacted",
  "engaged",
  "replied",
  "meeting_booked",
  "qualified",
  "unqualified",
  "bounced",
  "unsubscribed",
] as const;
export const campaignStatuses = ["draft", "active", "paused", "completed", "archived"] as const;
export const insightPriorities = ["low", "medium", "high", "critical"] as const;
export const alertSeverities = ["info", "warning", "critical"] as const;

export const agentTasks = pgTable("agent_tasks", {
  ...owned,
  agentName: text("agent_name").$type<AgentName>().notNull(),
  status: text("status").$type<(typeof taskStatuses)[number]>().notNull().default("queued"),
  input: json("input").notNull().default({}),
  output: json("output"),
  error: text("error"),
  externalId: text("external_id"),
  requestHash: text("request_hash"),
  parentTaskId: uuid("parent_task_id"),
  model: text("model"),
  promptTokens: integer("prompt_tokens").notNull().default(0),
  completionTokens: integer("completion_tokens").notNull().default(0),
  costUsd: numeric("cost_usd", { precision: 12, scale: 6 }).notNull().default("0"),
  startedAt: ts("started_at"),
  completedAt: ts("completed_at"),
});

export const campaigns = pgTable("campaigns", {
  ...owned,
  taskId: uuid("task_id"),
  name: text("name").notNull(),
  description: text("description"),
  channel: text("channel").notNull().default("email"),
  status: text("status").$type<(typeof campaignStatuses)[number]>().notNull().default("draft"),
  audience: text("audience"),
  message: text("message"),
  schedule: json("schedule").notNull().default({}),
  kpis: json("kpis").notNull().default([]),
  steps: json("steps").notNull().default([]),
  fingerprint: text("fingerprint"),
});

export const leads = pgTable("leads", {
  ...owned,
  taskId: uuid("task_id"),
  name: text("name"),
  email: text("email"),
  phone: text("phone"),
  company: text("company"),
  role: text("role"),
  website: text("website"),
  location: text("location"),
  industry: text("industry"),
  sourceUrl: text("source_url"),
  score: integer("score").notNull().default(0),
  scoreReasons: json("score_reasons").notNull().default([]),
  status: text("status").$type<(typeof leadStatuses)[number]>().notNull().default("new"),
  history: json("history").notNull().default([]),
});

export const emailEvents = pgTable("email_events", {
  ...owned,
  leadId: uuid("lead_id"),
  campaignId: uuid("campaign_id"),
  taskId: uuid("task_id"),
  eventType: text("event_type").notNull(),
  toEmail: text("to_email"),
  fromEmail: text("from_email"),
  subject: text("subject"),
  bodyText: text("body_text"),
  bodyHtml: text("body_html"),
  messageId: text("message_id"),
  gmailMessageId: text("gmail_message_id"),
  gmailThreadId: text("gmail_thread_id"),
  sequenceStep: integer("sequence_step").notNull().default(0),
  scheduledAt: ts("scheduled_at"),
  sentAt: ts("sent_at"),
  error: text("error"),
});

export const productInsights = pgTable("product_insights", {
  ...owned,
  taskId: uuid("task_id"),
  title: text("title").notNull(),
  content: text("content"),
  tags: text("tags").array().notNull().default([]),
  priority: text("priority").$type<(typeof insightPriorities)[number]>().notNull().default("medium"),
  source: text("source"),
  evidence: json("evidence").notNull().default([]),
  fingerprint: text("fingerprint"),
});

export const calendarEvents = pgTable("calendar_events", {
  ...owned,
  leadId: uuid("lead_id"),
  taskId: uuid("task_id"),
  title: text("title").notNull(),
  description: text("description"),
  startTime: ts("start_time").notNull(),
  durationMinutes: integer("duration_minutes").notNull().default(30),
  timeZone: text("time_zone").notNull().default("UTC"),
  status: text("status").notNull().default("scheduled"),
  syncStatus: text("sync_status").notNull().default("pending"),
  googleCalendarId: text("google_calendar_id"),
  googleEventId: text("google_event_id"),
  icalUid: text("ical_uid"),
  meetingUrl: text("meeting_url"),
  attendees: json("attendees").notNull().default([]),
});

export const callScripts = pgTable("call_scripts", {
  ...owned,
  leadId: uuid("lead_id"),
  calendarEventId: uuid("calendar_event_id"),
  taskId: uuid("task_id"),
  meetingType: text("meeting_type").notNull().default("discovery"),
  script: json("script").notNull(),
  response: text("response"),
  sources: json("sources").notNull().default([]),
});

export const alerts = pgTable("alerts", {
  ...owned,
  taskId: uuid("task_id"),
  type: text("type").notNull(),
  severity: text("severity").$type<(typeof alertSeverities)[number]>().notNull().default("info"),
  title: text("title"),
  message: text("message").notNull(),
  read: boolean("read").notNull().default(false),
  readAt: ts("read_at"),
});

const serviceTimestamps = {
  createdAt: ts("created_at").notNull().defaultNow(),
  updatedAt: ts("updated_at").notNull().defaultNow(),
};

export const scrapes = pgTable("scrapes", {
  id: uuid("id").primaryKey().defaultRandom(),
  url: text("url").notNull(),
  urlKey: text("url_key").notNull(),
  domain: text("domain").notNull(),
  taskId: uuid("task_id"),
  status: text("status").notNull().default("pending"),
  httpStatus: integer("http_status"),
  finalUrl: text("final_url"),
  title: text("title"),
  contentMarkdown: text("content_markdown"),
  links: json("links").notNull().default([]),
  jsonLd: json("json_ld").notNull().default([]),
  contentBytes: integer("content_bytes"),
  error: text("error"),
  timings: json("timings").notNull().default({}),
  fetchedAt: ts("fetched_at"),
  expiresAt: ts("expires_at"),
  ...serviceTimestamps,
});

export const webhookEvents = pgTable("webhook_events", {
  id: uuid("id").primaryKey().defaultRandom(),
  source: text("source").notNull(),
  eventId: text("event_id").notNull(),
  eventType: text("event_type").notNull(),
  userId: uuid("user_id"),
  payload: json("payload").notNull(),
  status: text("status").notNull().default("received"),
  attempts: integer("attempts").notNull().default(0),
  error: text("error"),
  processedAt: ts("processed_at"),
  ...serviceTimestamps,
});

export const domainBackoff = pgTable("domain_backoff", {
  domain: text("domain").primaryKey(),
  backoffUntil: ts("backoff_until").notNull(),
  failures: integer("failures").notNull().default(1),
  reason: text("reason"),
  lastStatus: integer("last_status"),
  ...serviceTimestamps,
});

export const userTables = {
  agent_tasks: agentTasks,
  campaigns,
  leads,
  email_events: emailEvents,
  product_insights: productInsights,
  calendar_events: calendarEvents,
  call_scripts: callScripts,
  alerts,
} as const;

export const serviceTables = {
  scrapes,
  webhook_events: webhookEvents,
  domain_backoff: domainBackoff,
} as const;
