/**
 * Typed mirror of `supabase/migrations` for the query builder. The SQL is the source of truth;
 * `test/db-schema.test.ts` fails when a column here and in the database disagree.
 */
import { boolean, integer, jsonb, numeric, pgTable, text, timestamp, uuid } from "drizzle-orm/pg-core";

// Timestamps stay as Postgres text so keyset cursors keep microseconds.
const ts = (name: string) => timestamp(name, { withTimezone: true, mode: "string" });
const json = <T = unknown>(name: string) => jsonb(name).$type<T>();

/** Columns of every business row: its workspace (the tenant) and the member who made or owns it. */
const owned = {
  id: uuid("id").primaryKey().defaultRandom(),
  // No default here: product code always says which workspace a row belongs to.
  workspace_id: uuid("workspace_id").notNull(),
  user_id: uuid("user_id").notNull(),
  metadata: json<Record<string, unknown>>("metadata").notNull().default({}),
  created_at: ts("created_at").notNull().defaultNow(),
  updated_at: ts("updated_at").notNull().defaultNow(),
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
/** Where a lead's time zone came from (lib/email/lead-zone.ts). */
export type TimeZoneSource = "explicit" | "address" | "phone" | "domain" | "workspace";
export const campaignStatuses = ["draft", "active", "paused", "completed", "archived"] as const;
export const insightPriorities = ["low", "medium", "high", "critical"] as const;
export const alertSeverities = ["info", "warning", "critical"] as const;
export const workspaceRoles = ["owner", "admin", "member"] as const;
export type WorkspaceRole = (typeof workspaceRoles)[number];
/** The lead statuses a person may set (the guard trigger on leads enforces the same list). */
export const personLeadStatuses = [
  "new",
  "contacted",
  "engaged",
  "replied",
  "meeting_booked",
  "qualified",
  "unqualified",
] as const;

const serviceTimestamps = {
  created_at: ts("created_at").notNull().defaultNow(),
  updated_at: ts("updated_at").notNull().defaultNow(),
};

export const workspaces = pgTable("workspaces", {
  id: uuid("id").primaryKey().defaultRandom(),
  name: text("name").notNull(),
  personal: boolean("personal").notNull().default(false),
  created_by: uuid("created_by"),
  postal_address: text("postal_address"),
  time_zone: text("time_zone").notNull().default("UTC"),
  working_hours: text("working_hours").notNull().default("09:00-17:00"),
  working_days: text("working_days").notNull().default("1-5"),
  sending_hours: text("sending_hours").notNull().default("09:00-17:00"),
  sending_days: text("sending_days").notNull().default("1-5"),
  skip_holidays: boolean("skip_holidays").notNull().default(true),
  token_budget_daily: integer("token_budget_daily"),
  member_token_budget_daily: integer("member_token_budget_daily"),
  usd_budget_daily: numeric("usd_budget_daily"),
  accept_foreign_contacts: boolean("accept_foreign_contacts").notNull().default(false),
  member_usd_budget_daily: numeric("member_usd_budget_daily"),
  metadata: json<Record<string, unknown>>("metadata").notNull().default({}),
  ...serviceTimestamps,
});

export const workspaceMembers = pgTable("workspace_members", {
  workspace_id: uuid("workspace_id").notNull(),
  user_id: uuid("user_id").notNull(),
  role: text("role").$type<WorkspaceRole>().notNull(),
  invited_by: uuid("invited_by"),
  ...serviceTimestamps,
});

export const workspaceInvitations = pgTable("workspace_invitations", {
  id: uuid("id").primaryKey().defaultRandom(),
  workspace_id: uuid("workspace_id").notNull(),
  email: text("email").notNull(),
  role: text("role").$type<Exclude<WorkspaceRole, "owner">>().notNull().default("member"),
  token_hash: text("token_hash").notNull(),
  invited_by: uuid("invited_by"),
  expires_at: ts("expires_at").notNull(),
  accepted_at: ts("accepted_at"),
  accepted_by: uuid("accepted_by"),
  revoked_at: ts("revoked_at"),
  email_event_id: uuid("email_event_id"),
  ...serviceTimestamps,
});

export const agentTasks = pgTable("agent_tasks", {
  ...owned,
  agent_name: text("agent_name").$type<AgentName>().notNull(),
  status: text("status").$type<(typeof taskStatuses)[number]>().notNull().default("queued"),
  input: json("input").notNull().default({}),
  output: json("output"),
  error: text("error"),
  external_id: text("external_id"),
  request_hash: text("request_hash"),
  parent_task_id: uuid("parent_task_id"),
  model: text("model"),
  prompt_tokens: integer("prompt_tokens").notNull().default(0),
  completion_tokens: integer("completion_tokens").notNull().default(0),
  cost_usd: numeric("cost_usd", { precision: 12, scale: 6 }).notNull().default("0"),
  started_at: ts("started_at"),
  completed_at: ts("completed_at"),
});

export const campaigns = pgTable("campaigns", {
  ...owned,
  task_id: uuid("task_id"),
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
  pause_reason: text("pause_reason"),
  bounce_guard_since: ts("bounce_guard_since"),
  mailbox_ids: uuid("mailbox_ids").array().notNull().default([]),
});

export const leads = pgTable("leads", {
  ...owned,
  task_id: uuid("task_id"),
  name: text("name"),
  email: text("email"),
  phone: text("phone"),
  company: text("company"),
  role: text("role"),
  website: text("website"),
  location: text("location"),
  industry: text("industry"),
  source_url: text("source_url"),
  score: integer("score").notNull().default(0),
  score_reasons: json("score_reasons").notNull().default([]),
  status: text("status").$type<(typeof leadStatuses)[number]>().notNull().default("new"),
  history: json("history").notNull().default([]),
  lead_key: text("lead_key"),
  notes: text("notes"),
  tags: text("tags").array().notNull().default([]),
  time_zone: text("time_zone"),
  time_zone_source: text("time_zone_source").$type<TimeZoneSource>(),
  country: text("country"),
});

export const emailEvents = pgTable("email_events", {
  ...owned,
  lead_id: uuid("lead_id"),
  campaign_id: uuid("campaign_id"),
  task_id: uuid("task_id"),
  mailbox_id: uuid("mailbox_id"),
  event_type: text("event_type").notNull(),
  to_email: text("to_email"),
  from_email: text("from_email"),
  subject: text("subject"),
  body_text: text("body_text"),
  body_html: text("body_html"),
  message_id: text("message_id"),
  gmail_message_id: text("gmail_message_id"),
  gmail_thread_id: text("gmail_thread_id"),
  sequence_step: integer("sequence_step").notNull().default(0),
  scheduled_at: ts("scheduled_at"),
  sent_at: ts("sent_at"),
  error: text("error"),
});

export const productInsights = pgTable("product_insights", {
  ...owned,
  task_id: uuid("task_id"),
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
  lead_id: uuid("lead_id"),
  task_id: uuid("task_id"),
  title: text("title").notNull(),
  description: text("description"),
  start_time: ts("start_time").notNull(),
  duration_minutes: integer("duration_minutes").notNull().default(30),
  time_zone: text("time_zone").notNull().default("UTC"),
  status: text("status").notNull().default("scheduled"),
  sync_status: text("sync_status").notNull().default("pending"),
  calendar_id: uuid("calendar_id"),
  google_calendar_id: text("google_calendar_id"),
  google_event_id: text("google_event_id"),
  ical_uid: text("ical_uid"),
  meeting_url: text("meeting_url"),
  attendees: json("attendees").notNull().default([]),
});

export const callScripts = pgTable("call_scripts", {
  ...owned,
  lead_id: uuid("lead_id"),
  calendar_event_id: uuid("calendar_event_id"),
  task_id: uuid("task_id"),
  meeting_type: text("meeting_type").notNull().default("discovery"),
  script: json("script").notNull(),
  response: text("response"),
  sources: json("sources").notNull().default([]),
});

export const alerts = pgTable("alerts", {
  ...owned,
  task_id: uuid("task_id"),
  type: text("type").notNull(),
  severity: text("severity").$type<(typeof alertSeverities)[number]>().notNull().default("info"),
  title: text("title"),
  message: text("message").notNull(),
  read: boolean("read").notNull().default(false),
  read_at: ts("read_at"),
});

export const scrapes = pgTable("scrapes", {
  id: uuid("id").primaryKey().defaultRandom(),
  url: text("url").notNull(),
  url_key: text("url_key").notNull(),
  domain: text("domain").notNull(),
  task_id: uuid("task_id"),
  status: text("status").notNull().default("pending"),
  http_status: integer("http_status"),
  final_url: text("final_url"),
  title: text("title"),
  content_markdown: text("content_markdown"),
  links: json("links").notNull().default([]),
  json_ld: json("json_ld").notNull().default([]),
  contacts: json("contacts").notNull().default({}),
  content_bytes: integer("content_bytes"),
  error: text("error"),
  timings: json("timings").notNull().default({}),
  fetched_at: ts("fetched_at"),
  expires_at: ts("expires_at"),
  ...serviceTimestamps,
});

export const webhookEvents = pgTable("webhook_events", {
  id: uuid("id").primaryKey().defaultRandom(),
  source: text("source").notNull(),
  event_id: text("event_id").notNull(),
  event_type: text("event_type").notNull(),
  user_id: uuid("user_id"),
  payload: json("payload").notNull(),
  status: text("status").notNull().default("received"),
  attempts: integer("attempts").notNull().default(0),
  error: text("error"),
  processed_at: ts("processed_at"),
  ...serviceTimestamps,
});

export const domainBackoff = pgTable("domain_backoff", {
  domain: text("domain").primaryKey(),
  backoff_until: ts("backoff_until").notNull(),
  failures: integer("failures").notNull().default(1),
  reason: text("reason"),
  last_status: integer("last_status"),
  ...serviceTimestamps,
});

export const emailSuppressions = pgTable("email_suppressions", {
  id: uuid("id").primaryKey().defaultRandom(),
  workspace_id: uuid("workspace_id").notNull(),
  user_id: uuid("user_id").notNull(),
  email: text("email").notNull(),
  reason: text("reason").$type<"unsubscribed" | "bounced" | "complained" | "manual">().notNull(),
  source: text("source"),
  lead_id: uuid("lead_id"),
  ...serviceTimestamps,
});

export const googleConnections = pgTable("google_connections", {
  id: uuid("id").primaryKey().defaultRandom(),
  workspace_id: uuid("workspace_id").notNull(),
  kind: text("kind").$type<"oauth" | "environment">().notNull().default("oauth"),
  google_sub: text("google_sub"),
  email: text("email").notNull(),
  scopes: text("scopes").array().notNull().default([]),
  refresh_token_ciphertext: text("refresh_token_ciphertext"),
  token_key_id: text("token_key_id"),
  status: text("status").$type<"active" | "needs_reconnect" | "disconnected">().notNull().default("active"),
  status_reason: text("status_reason"),
  connected_by: uuid("connected_by"),
  connected_at: ts("connected_at").notNull().defaultNow(),
  disconnected_at: ts("disconnected_at"),
  ...serviceTimestamps,
});

export const mailboxes = pgTable("mailboxes", {
  id: uuid("id").primaryKey().defaultRandom(),
  workspace_id: uuid("workspace_id").notNull(),
  connection_id: uuid("connection_id"),
  kind: text("kind").$type<"gmail" | "outbox">().notNull().default("gmail"),
  status: text("status").$type<"active" | "disconnected">().notNull().default("active"),
  address: text("address").notNull(),
  display_name: text("display_name"),
  daily_cap: integer("daily_cap").notNull().default(30),
  hourly_cap: integer("hourly_cap").notNull().default(8),
  min_gap_seconds: integer("min_gap_seconds").notNull().default(90),
  gap_jitter_seconds: integer("gap_jitter_seconds").notNull().default(60),
  paused_until: ts("paused_until"),
  pause_reason: text("pause_reason"),
  history_id: text("history_id"),
  watch_expires_at: ts("watch_expires_at"),
  bounce_guard_since: ts("bounce_guard_since"),
  sender_check: json("sender_check"),
  sender_checked_at: ts("sender_checked_at"),
  ramp_start: integer("ramp_start").notNull().default(5),
  ramp_step: integer("ramp_step").notNull().default(2),
  ramp_started_at: ts("ramp_started_at").notNull().defaultNow(),
  ...serviceTimestamps,
});

export const calendarChannels = pgTable("calendar_channels", {
  id: text("id").primaryKey(),
  calendar_id: uuid("calendar_id").notNull(),
  resource_id: text("resource_id").notNull(),
  resource_uri: text("resource_uri"),
  key_id: text("key_id").notNull(),
  status: text("status").$type<"active" | "stopped">().notNull().default("active"),
  expires_at: ts("expires_at").notNull(),
  stopped_at: ts("stopped_at"),
  ...serviceTimestamps,
});

export const calendars = pgTable("calendars", {
  id: uuid("id").primaryKey().defaultRandom(),
  workspace_id: uuid("workspace_id").notNull(),
  connection_id: uuid("connection_id"),
  google_calendar_id: text("google_calendar_id").notNull(),
  status: text("status").$type<"active" | "disconnected">().notNull().default("active"),
  sync_token: text("sync_token"),
  last_synced_at: ts("last_synced_at"),
  last_full_sync_at: ts("last_full_sync_at"),
  ...serviceTimestamps,
});

/** Business rows: each belongs to one workspace; members read them (and write a few columns). */
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

/** Tenancy: who is in which workspace, and who was invited. */
export const tenancyTables = {
  workspaces,
  workspace_members: workspaceMembers,
  workspace_invitations: workspaceInvitations,
} as const;

/** Rows of a workspace that members may read but only the service writes. */
export const workspaceReadTables = {
  email_suppressions: emailSuppressions,
  mailboxes,
  calendars,
} as const;

/** No API role may touch these at all. */
export const serviceTables = {
  scrapes,
  webhook_events: webhookEvents,
  domain_backoff: domainBackoff,
  google_connections: googleConnections,
  calendar_channels: calendarChannels,
} as const;
