-- Foundation schema: the eleven tables of the agent team, row-level security, realtime.
--
-- Conventions
-- * Every user-owned row has user_id -> auth.users and is readable and writable only by its owner
--   through RLS ("(select auth.uid()) = user_id", evaluated once per statement).
-- * References between user-owned rows are composite (child_id, user_id) -> (id, user_id), so a row can
--   never point at another user's row even though foreign-key checks bypass RLS.
-- * scrapes, webhook_events and domain_backoff are service-only: RLS on, no policy, no grants to the
--   API roles.
-- * Status columns are text with CHECK constraints; updated_at is maintained by a trigger.

create schema if not exists private;
revoke all on schema private from public;

create or replace function private.set_updated_at() returns trigger
language plpgsql
set search_path = ''
as $$
begin
  new.updated_at := now();
  return new;
end
$$;

-- agent_tasks: one row per agent run ------------------------------------------------------------
create table public.agent_tasks (
  id uuid primary key default gen_random_uuid(),
  user_id uuid not null references auth.users (id) on delete cascade,
  agent_name text not null check (agent_name in (
    'product-manager', 'finance-manager', 'marketing-strategist', 'leadgen-scraper',
    'outbound-emailer', 'booking-callprep', 'engineer'
  )),
  status text not null default 'queued'
    check (status in ('queued', 'processing', 'completed', 'failed', 'cancelled')),
  input jsonb not null default '{}'::jsonb,
  output jsonb,
  error text,
  external_id text check (char_length(external_id) between 1 and 255),
  request_hash text,
  parent_task_id uuid,
  model text,
  prompt_tokens integer not null default 0 check (prompt_tokens >= 0),
  completion_tokens integer not null default 0 check (completion_tokens >= 0),
  cost_usd numeric(12, 6) not null default 0 check (cost_usd >= 0),
  metadata jsonb not null default '{}'::jsonb,
  started_at timestamptz,
  completed_at timestamptz,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  constraint agent_tasks_id_user_id_key unique (id, user_id),
  constraint agent_tasks_user_id_external_id_key unique (user_id, external_id),
  constraint agent_tasks_parent_fkey foreign key (parent_task_id, user_id)
    references public.agent_tasks (id, user_id) on delete set null (parent_task_id)
);
create index agent_tasks_user_created_idx on public.agent_tasks (user_id, created_at desc, id desc);
create index agent_tasks_user_status_created_idx
  on public.agent_tasks (user_id, status, created_at desc, id desc);
create index agent_tasks_user_agent_created_idx
  on public.agent_tasks (user_id, agent_name, created_at desc, id desc);
create index agent_tasks_parent_idx on public.agent_tasks (parent_task_id, user_id);

-- campaigns ---------------------------------------------------------------------------------------
create table public.campaigns (
  id uuid primary key default gen_random_uuid(),
  user_id uuid not null references auth.users (id) on delete cascade,
  task_id uuid,
  name text not null check (char_length(name) between 1 and 300),
  description text,
  channel text not null default 'email' check (channel ~ '^[a-z][a-z0-9_-]{0,31}$'),
  status text not null default 'draft'
    check (status in ('draft', 'active', 'paused', 'completed', 'archived')),
  audience text,
  message text,
  schedule jsonb not null default '{}'::jsonb,
  kpis jsonb not null default '[]'::jsonb,
  steps jsonb not null default '[]'::jsonb,
  fingerprint text,
  metadata jsonb not null default '{}'::jsonb,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  constraint campaigns_id_user_id_key unique (id, user_id),
  constraint campaigns_user_id_fingerprint_key unique (user_id, fingerprint),
  constraint campaigns_task_fkey foreign key (task_id, user_id)
    references public.agent_tasks (id, user_id) on delete set null (task_id)
);
create index campaigns_user_created_idx on public.campaigns (user_id, created_at desc, id desc);
create index campaigns_user_status_created_idx on public.campaigns (user_id, status, created_at desc, id desc);
create index campaigns_task_idx on public.campaigns (task_id, user_id);

-- leads ---------------------------------------------------------------------------------------------
create table public.leads (
  id uuid primary key default gen_random_uuid(),
  user_id uuid not null references auth.users (id) on delete cascade,
  task_id uuid,
  name text,
  email text check (email is null or (char_length(email) <= 320 and email ~ '^[^@\s]+@[^@\s]+$')),
  phone text,
  company text,
  role text,
  website text,
  location text,
  industry text,
  source_url text,
  score integer not null default 0 check (score between 0 and 100),
  score_reasons jsonb not null default '[]'::jsonb,
  status text not null default 'new' check (status in (
    'new', 'contacted', 'engaged', 'replied', 'meeting_booked', 'qualified', 'unqualified',
    'bounced', 'unsubscribed'
  )),
  history jsonb not null default '[]'::jsonb,
  metadata jsonb not null default '{}'::jsonb,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  constraint leads_id_user_id_key unique (id, user_id),
  constraint leads_task_fkey foreign key (task_id, user_id)
    references public.agent_tasks (id, user_id) on delete set null (task_id)
);
-- One lead per address per user: lead generation merges into it instead of duplicating.
create unique index leads_user_email_key on public.leads (user_id, lower(email)) where email is not null;
create index leads_user_score_idx on public.leads (user_id, score desc, created_at desc, id desc);
create index leads_user_status_score_idx
  on public.leads (user_id, status, score desc, created_at desc, id desc);
create index leads_task_idx on public.leads (task_id, user_id);

-- email_events: drafts, sends and everything that happens to a message after ---------------------
create table public.email_events (
  id uuid primary key default gen_random_uuid(),
  user_id uuid not null references auth.users (id) on delete cascade,
  lead_id uuid,
  campaign_id uuid,
  task_id uuid,
  event_type text not null check (event_type in (
    'drafted', 'approved', 'queued', 'sent', 'outboxed', 'delivered', 'opened', 'clicked',
    'replied', 'bounced', 'complained', 'unsubscribed', 'failed'
  )),
  to_email text,
  from_email text,
  subject text,
  body_text text,
  body_html text,
  message_id text,
  gmail_message_id text,
  gmail_thread_id text,
  sequence_step integer not null default 0 check (sequence_step >= 0),
  scheduled_at timestamptz,
  sent_at timestamptz,
  error text,
  metadata jsonb not null default '{}'::jsonb,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  constraint email_events_id_user_id_key unique (id, user_id),
  constraint email_events_lead_fkey foreign key (lead_id, user_id)
    references public.leads (id, user_id) on delete set null (lead_id),
  constraint email_events_campaign_fkey foreign key (campaign_id, user_id)
    references public.campaigns (id, user_id) on delete set null (campaign_id),
  constraint email_events_task_fkey foreign key (task_id, user_id)
    references public.agent_tasks (id, user_id) on delete set null (task_id)
);
create unique index email_events_user_gmail_message_key
  on public.email_events (user_id, gmail_message_id) where gmail_message_id is not null;
create unique index email_events_message_id_key on public.email_events (message_id) where message_id is not null;
create index email_events_user_created_idx on public.email_events (user_id, created_at desc, id desc);
create index email_events_user_type_created_idx
  on public.email_events (user_id, event_type, created_at desc, id desc);
create index email_events_lead_idx on public.email_events (lead_id, user_id);
create index email_events_campaign_idx on public.email_events (campaign_id, user_id);
create index email_events_task_idx on public.email_events (task_id, user_id);
create index email_events_thread_idx on public.email_events (gmail_thread_id) where gmail_thread_id is not null;

-- product_insights ------------------------------------------------------------------------------------
create table public.product_insights (
  id uuid primary key default gen_random_uuid(),
  user_id uuid not null references auth.users (id) on delete cascade,
  task_id uuid,
  title text not null check (char_length(title) between 1 and 300),
  content text,
  tags text[] not null default '{}',
  priority text not null default 'medium' check (priority in ('low', 'medium', 'high', 'critical')),
  source text,
  evidence jsonb not null default '[]'::jsonb,
  -- Normalised title hash: repeated runs update an insight instead of duplicating it.
  fingerprint text,
  metadata jsonb not null default '{}'::jsonb,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  constraint product_insights_id_user_id_key unique (id, user_id),
  constraint product_insights_user_id_fingerprint_key unique (user_id, fingerprint),
  constraint product_insights_task_fkey foreign key (task_id, user_id)
    references public.agent_tasks (id, user_id) on delete set null (task_id)
);
create index product_insights_user_created_idx
  on public.product_insights (user_id, created_at desc, id desc);
create index product_insights_user_priority_created_idx
  on public.product_insights (user_id, priority, created_at desc, id desc);
create index product_insights_task_idx on public.product_insights (task_id, user_id);

-- calendar_events ---------------------------------------------------------------------------------
create table public.calendar_events (
  id uuid primary key default gen_random_uuid(),
  user_id uuid not null references auth.users (id) on delete cascade,
  lead_id uuid,
  task_id uuid,
  title text not null check (char_length(title) between 1 and 500),
  description text,
  start_time timestamptz not null,
  duration_minutes integer not null default 30 check (duration_minutes between 1 and 1440),
  time_zone text not null default 'UTC',
  status text not null default 'scheduled'
    check (status in ('scheduled', 'tentative', 'confirmed', 'cancelled', 'completed')),
  -- Whether Google Calendar holds this event: not_synced means the calendar was not touched.
  sync_status text not null default 'pending' check (sync_status in ('pending', 'synced', 'not_synced', 'failed')),
  google_calendar_id text,
  google_event_id text,
  ical_uid text,
  meeting_url text,
  attendees jsonb not null default '[]'::jsonb,
  metadata jsonb not null default '{}'::jsonb,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  constraint calendar_events_id_user_id_key unique (id, user_id),
  constraint calendar_events_lead_fkey foreign key (lead_id, user_id)
    references public.leads (id, user_id) on delete set null (lead_id),
  constraint calendar_events_task_fkey foreign key (task_id, user_id)
    references public.agent_tasks (id, user_id) on delete set null (task_id)
);
create unique index calendar_events_user_google_event_key
  on public.calendar_events (user_id, google_event_id) where google_event_id is not null;
create index calendar_events_user_start_idx on public.calendar_events (user_id, start_time, id);
create index calendar_events_lead_idx on public.calendar_events (lead_id, user_id);
create index calendar_events_task_idx on public.calendar_events (task_id, user_id);

-- call_scripts --------------------------------------------------------------------------------------
create table public.call_scripts (
  id uuid primary key default gen_random_uuid(),
  user_id uuid not null references auth.users (id) on delete cascade,
  lead_id uuid,
  calendar_event_id uuid,
  task_id uuid,
  meeting_type text not null default 'discovery' check (meeting_type ~ '^[a-z][a-z0-9_-]{0,31}$'),
  script jsonb not null,
  response text,
  sources jsonb not null default '[]'::jsonb,
  metadata jsonb not null default '{}'::jsonb,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  constraint call_scripts_id_user_id_key unique (id, user_id),
  constraint call_scripts_lead_fkey foreign key (lead_id, user_id)
    references public.leads (id, user_id) on delete set null (lead_id),
  constraint call_scripts_calendar_event_fkey foreign key (calendar_event_id, user_id)
    references public.calendar_events (id, user_id) on delete set null (calendar_event_id),
  constraint call_scripts_task_fkey foreign key (task_id, user_id)
    references public.agent_tasks (id, user_id) on delete set null (task_id)
);
create index call_scripts_user_created_idx on public.call_scripts (user_id, created_at desc, id desc);
create index call_scripts_lead_idx on public.call_scripts (lead_id, user_id);
create index call_scripts_calendar_event_idx on public.call_scripts (calendar_event_id, user_id);
create index call_scripts_task_idx on public.call_scripts (task_id, user_id);

-- alerts --------------------------------------------------------------------------------------------
create table public.alerts (
  id uuid primary key default gen_random_uuid(),
  user_id uuid not null references auth.users (id) on delete cascade,
  task_id uuid,
  type text not null check (type ~ '^[a-z][a-z0-9_.]{0,63}$'),
  severity text not null default 'info' check (severity in ('info', 'warning', 'critical')),
  title text,
  message text not null check (char_length(message) between 1 and 4000),
  read boolean not null default false,
  read_at timestamptz,
  metadata jsonb not null default '{}'::jsonb,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  constraint alerts_id_user_id_key unique (id, user_id),
  constraint alerts_task_fkey foreign key (task_id, user_id)
    references public.agent_tasks (id, user_id) on delete set null (task_id)
);
create index alerts_user_created_idx on public.alerts (user_id, created_at desc, id desc);
create index alerts_user_read_created_idx on public.alerts (user_id, read, created_at desc, id desc);
create index alerts_task_idx on public.alerts (task_id, user_id);

-- scrapes (service only): the page cache of the lead-generation worker ----------------------------
create table public.scrapes (
  id uuid primary key default gen_random_uuid(),
  url text not null,
  -- Normalised URL (scheme and host lower-cased, default port, fragment and tracking parameters dropped).
  url_key text not null,
  domain text not null check (domain = lower(domain)),
  task_id uuid references public.agent_tasks (id) on delete set null,
  status text not null default 'pending' check (status in ('pending', 'completed', 'failed', 'skipped')),
  http_status integer,
  final_url text,
  title text,
  content_markdown text,
  links jsonb not null default '[]'::jsonb,
  json_ld jsonb not null default '[]'::jsonb,
  content_bytes integer check (content_bytes >= 0),
  error text,
  timings jsonb not null default '{}'::jsonb,
  fetched_at timestamptz,
  expires_at timestamptz,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  constraint scrapes_url_key_key unique (url_key)
);
create index scrapes_domain_idx on public.scrapes (domain);
create index scrapes_task_idx on public.scrapes (task_id);
create index scrapes_expires_idx on public.scrapes (expires_at);

-- webhook_events (service only): every inbound event, deduplicated by its sender's id -------------
create table public.webhook_events (
  id uuid primary key default gen_random_uuid(),
  source text not null check (source in ('task', 'scrape', 'email', 'calendar', 'qstash', 'database')),
  event_id text not null check (char_length(event_id) between 1 and 255),
  event_type text not null,
  user_id uuid references auth.users (id) on delete set null,
  payload jsonb not null,
  status text not null default 'received'
    check (status in ('received', 'processing', 'processed', 'failed', 'ignored')),
  attempts integer not null default 0 check (attempts >= 0),
  error text,
  processed_at timestamptz,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  constraint webhook_events_source_event_id_key unique (source, event_id)
);
create index webhook_events_status_created_idx on public.webhook_events (status, created_at);
create index webhook_events_user_idx on public.webhook_events (user_id);

-- domain_backoff (service only): scraping pauses per domain ------------------------------------
create table public.domain_backoff (
  domain text primary key check (domain = lower(domain)),
  backoff_until timestamptz not null,
  failures integer not null default 1 check (failures >= 0),
  reason text,
  last_status integer,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
create index domain_backoff_until_idx on public.domain_backoff (backoff_until);

-- updated_at, privileges, RLS, realtime ---------------------------------------------------------------
do $$
declare
  t text;
  user_tables constant text[] := array[
    'agent_tasks', 'campaigns', 'leads', 'email_events', 'product_insights', 'calendar_events',
    'call_scripts', 'alerts'
  ];
  service_tables constant text[] := array['scrapes', 'webhook_events', 'domain_backoff'];
begin
  foreach t in array user_tables || service_tables loop
    execute format(
      'create trigger set_updated_at before update on public.%I for each row execute function private.set_updated_at()',
      t
    );
    execute format('alter table public.%I enable row level security', t);
    -- Supabase grants everything on public tables to the API roles by default; take it back and
    -- give only what each role needs (no TRUNCATE, which would bypass RLS).
    execute format('revoke all on table public.%I from anon, authenticated', t);
  end loop;

  foreach t in array user_tables loop
    execute format('grant select, insert, update, delete on table public.%I to authenticated', t);
    execute format(
      'create policy %I on public.%I for select to authenticated using ((select auth.uid()) = user_id)',
      t || ': owner reads', t
    );
    execute format(
      'create policy %I on public.%I for insert to authenticated with check ((select auth.uid()) = user_id)',
      t || ': owner inserts', t
    );
    execute format(
      'create policy %I on public.%I for update to authenticated using ((select auth.uid()) = user_id) with check ((select auth.uid()) = user_id)',
      t || ': owner updates', t
    );
    execute format(
      'create policy %I on public.%I for delete to authenticated using ((select auth.uid()) = user_id)',
      t || ': owner deletes', t
    );
    execute format('alter publication supabase_realtime add table public.%I', t);
  end loop;
end
$$;
