-- Workspaces and the trust boundary.
--
-- The workspace is the tenant: the business that owns the Google account(s), the suppression list,
-- the sending mailboxes, the postal address and the budget. Users are members with a role (owner,
-- admin, member). Every new user gets a personal workspace whose id is the user's own id, so rows
-- written before workspaces existed move into their owner's personal workspace unchanged, and a
-- solo user never has to name one.
--
-- The browser is an untrusted client. Through PostgREST it may read what its workspaces may see and
-- express intents only:
--   * agent_tasks  insert a queued task with its input (admitted like an API call by the backend);
--   * alerts       mark its own alerts read;
--   * leads        set status (among the values a person may set), notes and tags;
--   * email_events edit a draft's subject and body (which sends it back to review), delete its drafts;
--   * workspaces   owners and admins edit name, postal address, time zone and working hours.
-- Everything else (recipients, statuses workers act on, Message-IDs, Google ids, outcomes, tokens,
-- costs, metadata) is written by the service alone: column privileges say what may be written at
-- all, and the guard triggers below say which values, each naming its rule.

-- 1. Tenancy ------------------------------------------------------------------------------------------

create table public.workspaces (
  id uuid primary key default gen_random_uuid(),
  name text not null check (char_length(btrim(name)) between 1 and 200),
  -- A personal workspace has the id of the user it was made for.
  personal boolean not null default false,
  created_by uuid references auth.users (id) on delete set null,
  -- Printed in the footer of every commercial email (CAN-SPAM).
  postal_address text check (char_length(postal_address) <= 500),
  time_zone text not null default 'UTC' check (char_length(time_zone) between 1 and 64),
  working_hours text not null default '09:00-17:00'
    check (working_hours ~ '^([01]\d|2[0-3]):[0-5]\d-([01]\d|2[0-4]):[0-5]\d$'),
  working_days text not null default '1-5' check (working_days ~ '^[1-7](-[1-7])?(,[1-7](-[1-7])?)*$'),
  -- Model tokens per UTC day for the whole workspace and for each member; null: the deployment's default.
  token_budget_daily integer check (token_budget_daily > 0),
  member_token_budget_daily integer check (member_token_budget_daily > 0),
  metadata jsonb not null default '{}'::jsonb,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  constraint workspaces_personal_id check (not personal or id = created_by)
);
create index workspaces_created_by_idx on public.workspaces (created_by);

create table public.workspace_members (
  workspace_id uuid not null references public.workspaces (id) on delete cascade,
  user_id uuid not null references auth.users (id) on delete cascade,
  role text not null check (role in ('owner', 'admin', 'member')),
  invited_by uuid references auth.users (id) on delete set null,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  primary key (workspace_id, user_id)
);
create index workspace_members_user_idx on public.workspace_members (user_id, workspace_id);
create index workspace_members_invited_by_idx on public.workspace_members (invited_by);

create table public.workspace_invitations (
  id uuid primary key default gen_random_uuid(),
  workspace_id uuid not null references public.workspaces (id) on delete cascade,
  email text not null check (char_length(email) <= 320 and email ~ '^[^@\s]+@[^@\s]+$'),
  role text not null default 'member' check (role in ('admin', 'member')),
  -- SHA-256 of the single-use token; the token itself is only ever in the invitation email.
  token_hash text not null unique check (token_hash ~ '^[0-9a-f]{64}$'),
  invited_by uuid references auth.users (id) on delete set null,
  expires_at timestamptz not null,
  accepted_at timestamptz,
  accepted_by uuid references auth.users (id) on delete set null,
  revoked_at timestamptz,
  email_event_id uuid,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
-- One open invitation per address and workspace: inviting again replaces it.
create unique index workspace_invitations_open_key on public.workspace_invitations (workspace_id, lower(email))
  where accepted_at is null and revoked_at is null;
create index workspace_invitations_email_idx on public.workspace_invitations (lower(email));
create index workspace_invitations_invited_by_idx on public.workspace_invitations (invited_by);
create index workspace_invitations_accepted_by_idx on public.workspace_invitations (accepted_by);

-- Membership, for policies (basejump's shape): security definer so a policy on workspace_members
-- does not recurse into itself, search_path pinned, the caller from auth.uid() only.
create or replace function private.member_workspaces() returns setof uuid
language sql stable security definer
set search_path = ''
as $$
  select m.workspace_id from public.workspace_members m where m.user_id = (select auth.uid())
$$;

create or replace function private.admin_workspaces() returns setof uuid
language sql stable security definer
set search_path = ''
as $$
  select m.workspace_id from public.workspace_members m
  where m.user_id = (select auth.uid()) and m.role in ('owner', 'admin')
$$;

-- The workspace a user's request lands in when it names none: their only workspace, else their
-- personal one; null when neither exists (the API then lists the choices).
create or replace function private.default_workspace(member uuid) returns uuid
language sql stable security definer
set search_path = ''
as $$
  select case
    when count(*) = 1 then min(m.workspace_id::text)::uuid
    when bool_or(m.workspace_id = member) then member
  end
  from public.workspace_members m where m.user_id = member
$$;

revoke all on function private.member_workspaces() from public;
revoke all on function private.admin_workspaces() from public;
revoke all on function private.default_workspace(uuid) from public;
grant usage on schema private to authenticated;
grant execute on function private.member_workspaces() to authenticated;
grant execute on function private.admin_workspaces() to authenticated;

-- A personal workspace, with its creator as owner, for every new user.
create or replace function private.create_personal_workspace() returns trigger
language plpgsql security definer
set search_path = ''
as $$
begin
  insert into public.workspaces (id, name, personal, created_by)
  values (
    new.id,
    left(coalesce(
      nullif(btrim(new.raw_user_meta_data ->> 'company'), ''),
      nullif(btrim(new.raw_user_meta_data ->> 'full_name'), '') || '''s workspace',
      nullif(split_part(coalesce(new.email, ''), '@', 1), '') || '''s workspace',
      'My workspace'
    ), 200),
    true,
    new.id
  )
  on conflict (id) do nothing;
  insert into public.workspace_members (workspace_id, user_id, role)
  values (new.id, new.id, 'owner')
  on conflict do nothing;
  return null;
end
$$;
revoke all on function private.create_personal_workspace() from public;

create trigger create_personal_workspace
  after insert on auth.users
  for each row execute function private.create_personal_workspace();

-- Users who signed up before workspaces existed.
insert into public.workspaces (id, name, personal, created_by)
select u.id,
  left(coalesce(
    nullif(btrim(u.raw_user_meta_data ->> 'company'), ''),
    nullif(split_part(coalesce(u.email, ''), '@', 1), '') || '''s workspace',
    'My workspace'
  ), 200),
  true, u.id
from auth.users u
on conflict (id) do nothing;
insert into public.workspace_members (workspace_id, user_id, role)
select u.id, u.id, 'owner' from auth.users u
on conflict do nothing;

-- 2. Every business row belongs to one workspace ------------------------------------------------------
-- user_id stays: the member who made or owns the row. Rows written before this migration belong to
-- their user's personal workspace, whose id is the user's id.

do $$
declare
  t text;
  business_tables constant text[] := array[
    'agent_tasks', 'campaigns', 'leads', 'email_events', 'product_insights', 'calendar_events',
    'call_scripts', 'alerts', 'email_suppressions'
  ];
begin
  foreach t in array business_tables loop
    execute format('alter table public.%I add column workspace_id uuid', t);
    execute format('update public.%I set workspace_id = user_id', t);
    execute format('alter table public.%I alter column workspace_id set not null', t);
    execute format(
      'alter table public.%I add constraint %I foreign key (workspace_id) references public.workspaces (id) on delete cascade',
      t, t || '_workspace_fkey'
    );
  end loop;
end
$$;

-- A row written without a workspace (raw SQL, a frontend insert naming none) lands where the API's
-- default would put it. Not-null is checked after this trigger.
create or replace function private.default_workspace_id() returns trigger
language plpgsql security definer
set search_path = ''
as $$
begin
  if new.workspace_id is null then
    new.workspace_id := private.default_workspace(new.user_id);
  end if;
  return new;
end
$$;
revoke all on function private.default_workspace_id() from public;

do $$
declare
  t text;
begin
  foreach t in array array[
    'agent_tasks', 'campaigns', 'leads', 'email_events', 'product_insights', 'calendar_events',
    'call_scripts', 'alerts', 'email_suppressions'
  ] loop
    execute format(
      'create trigger default_workspace_id before insert on public.%I for each row execute function private.default_workspace_id()',
      t
    );
  end loop;
end
$$;

-- The frontend starting a task names only what it wants; the member is the session's user.
alter table public.agent_tasks alter column user_id set default auth.uid();

-- References between business rows stay inside one workspace (foreign-key checks bypass RLS, so a
-- plain key would let a row point at another workspace's row): composite keys on (id, workspace_id).
alter table public.agent_tasks add constraint agent_tasks_id_workspace_id_key unique (id, workspace_id);
alter table public.campaigns add constraint campaigns_id_workspace_id_key unique (id, workspace_id);
alter table public.leads add constraint leads_id_workspace_id_key unique (id, workspace_id);
alter table public.email_events add constraint email_events_id_workspace_id_key unique (id, workspace_id);
alter table public.calendar_events add constraint calendar_events_id_workspace_id_key unique (id, workspace_id);

alter table public.agent_tasks drop constraint agent_tasks_parent_fkey;
drop index public.agent_tasks_parent_idx;
alter table public.agent_tasks add constraint agent_tasks_parent_fkey foreign key (parent_task_id, workspace_id)
  references public.agent_tasks (id, workspace_id) on delete set null (parent_task_id);
create index agent_tasks_parent_idx on public.agent_tasks (parent_task_id, workspace_id);

alter table public.campaigns drop constraint campaigns_task_fkey;
drop index public.campaigns_task_idx;
alter table public.campaigns add constraint campaigns_task_fkey foreign key (task_id, workspace_id)
  references public.agent_tasks (id, workspace_id) on delete set null (task_id);
create index campaigns_task_idx on public.campaigns (task_id, workspace_id);

alter table public.leads drop constraint leads_task_fkey;
drop index public.leads_task_idx;
alter table public.leads add constraint leads_task_fkey foreign key (task_id, workspace_id)
  references public.agent_tasks (id, workspace_id) on delete set null (task_id);
create index leads_task_idx on public.leads (task_id, workspace_id);

alter table public.email_events drop constraint email_events_lead_fkey;
alter table public.email_events drop constraint email_events_campaign_fkey;
alter table public.email_events drop constraint email_events_task_fkey;
drop index public.email_events_lead_idx;
drop index public.email_events_campaign_idx;
drop index public.email_events_task_idx;
alter table public.email_events add constraint email_events_lead_fkey foreign key (lead_id, workspace_id)
  references public.leads (id, workspace_id) on delete set null (lead_id);
alter table public.email_events add constraint email_events_campaign_fkey foreign key (campaign_id, workspace_id)
  references public.campaigns (id, workspace_id) on delete set null (campaign_id);
alter table public.email_events add constraint email_events_task_fkey foreign key (task_id, workspace_id)
  references public.agent_tasks (id, workspace_id) on delete set null (task_id);
create index email_events_lead_idx on public.email_events (lead_id, workspace_id);
create index email_events_campaign_idx on public.email_events (campaign_id, workspace_id);
create index email_events_task_idx on public.email_events (task_id, workspace_id);

alter table public.product_insights drop constraint product_insights_task_fkey;
drop index public.product_insights_task_idx;
alter table public.product_insights add constraint product_insights_task_fkey foreign key (task_id, workspace_id)
  references public.agent_tasks (id, workspace_id) on delete set null (task_id);
create index product_insights_task_idx on public.product_insights (task_id, workspace_id);

alter table public.calendar_events drop constraint calendar_events_lead_fkey;
alter table public.calendar_events drop constraint calendar_events_task_fkey;
drop index public.calendar_events_lead_idx;
drop index public.calendar_events_task_idx;
alter table public.calendar_events add constraint calendar_events_lead_fkey foreign key (lead_id, workspace_id)
  references public.leads (id, workspace_id) on delete set null (lead_id);
alter table public.calendar_events add constraint calendar_events_task_fkey foreign key (task_id, workspace_id)
  references public.agent_tasks (id, workspace_id) on delete set null (task_id);
create index calendar_events_lead_idx on public.calendar_events (lead_id, workspace_id);
create index calendar_events_task_idx on public.calendar_events (task_id, workspace_id);

alter table public.call_scripts drop constraint call_scripts_lead_fkey;
alter table public.call_scripts drop constraint call_scripts_calendar_event_fkey;
alter table public.call_scripts drop constraint call_scripts_task_fkey;
drop index public.call_scripts_lead_idx;
drop index public.call_scripts_calendar_event_idx;
drop index public.call_scripts_task_idx;
alter table public.call_scripts add constraint call_scripts_lead_fkey foreign key (lead_id, workspace_id)
  references public.leads (id, workspace_id) on delete set null (lead_id);
alter table public.call_scripts add constraint call_scripts_calendar_event_fkey
  foreign key (calendar_event_id, workspace_id)
  references public.calendar_events (id, workspace_id) on delete set null (calendar_event_id);
alter table public.call_scripts add constraint call_scripts_task_fkey foreign key (task_id, workspace_id)
  references public.agent_tasks (id, workspace_id) on delete set null (task_id);
create index call_scripts_lead_idx on public.call_scripts (lead_id, workspace_id);
create index call_scripts_calendar_event_idx on public.call_scripts (calendar_event_id, workspace_id);
create index call_scripts_task_idx on public.call_scripts (task_id, workspace_id);

alter table public.alerts drop constraint alerts_task_fkey;
drop index public.alerts_task_idx;
alter table public.alerts add constraint alerts_task_fkey foreign key (task_id, workspace_id)
  references public.agent_tasks (id, workspace_id) on delete set null (task_id);
create index alerts_task_idx on public.alerts (task_id, workspace_id);

alter table public.email_suppressions drop constraint email_suppressions_lead_fkey;
drop index public.email_suppressions_lead_idx;
alter table public.email_suppressions add constraint email_suppressions_lead_fkey foreign key (lead_id, workspace_id)
  references public.leads (id, workspace_id) on delete set null (lead_id);
create index email_suppressions_lead_idx on public.email_suppressions (lead_id, workspace_id);

-- What is unique per user becomes unique per workspace: one lead per address, one insight or campaign
-- per fingerprint, one suppression per address.
drop index public.leads_user_email_key;
drop index public.leads_user_lead_key_key;
create unique index leads_workspace_email_key on public.leads (workspace_id, lower(email)) where email is not null;
create unique index leads_workspace_lead_key_key on public.leads (workspace_id, lead_key)
  where email is null and lead_key is not null;
alter table public.campaigns drop constraint campaigns_user_id_fingerprint_key;
alter table public.campaigns add constraint campaigns_workspace_id_fingerprint_key unique (workspace_id, fingerprint);
alter table public.product_insights drop constraint product_insights_user_id_fingerprint_key;
alter table public.product_insights add constraint product_insights_workspace_id_fingerprint_key
  unique (workspace_id, fingerprint);
drop index public.email_suppressions_user_email_key;
create unique index email_suppressions_workspace_email_key on public.email_suppressions (workspace_id, lower(email));
create index email_suppressions_user_idx on public.email_suppressions (user_id);

-- Lists read a workspace's rows newest (or best) first.
create index agent_tasks_workspace_created_idx on public.agent_tasks (workspace_id, created_at desc, id desc);
create index agent_tasks_workspace_status_created_idx
  on public.agent_tasks (workspace_id, status, created_at desc, id desc);
drop index public.agent_tasks_user_status_created_idx;
create index campaigns_workspace_created_idx on public.campaigns (workspace_id, created_at desc, id desc);
create index campaigns_workspace_status_created_idx
  on public.campaigns (workspace_id, status, created_at desc, id desc);
drop index public.campaigns_user_status_created_idx;
create index leads_workspace_score_idx on public.leads (workspace_id, score desc, created_at desc, id desc);
create index leads_workspace_status_score_idx
  on public.leads (workspace_id, status, score desc, created_at desc, id desc);
drop index public.leads_user_status_score_idx;
create index email_events_workspace_created_idx on public.email_events (workspace_id, created_at desc, id desc);
drop index public.email_events_user_type_created_idx;
create index product_insights_workspace_created_idx
  on public.product_insights (workspace_id, created_at desc, id desc);
create index product_insights_workspace_priority_created_idx
  on public.product_insights (workspace_id, priority, created_at desc, id desc);
drop index public.product_insights_user_priority_created_idx;
create index calendar_events_workspace_start_idx on public.calendar_events (workspace_id, start_time, id);
create index call_scripts_workspace_created_idx on public.call_scripts (workspace_id, created_at desc, id desc);
create index alerts_workspace_user_created_idx on public.alerts (workspace_id, user_id, created_at desc, id desc);

-- A campaign's follow-up step is written once per lead, whichever run writes it.
create unique index email_events_campaign_lead_step_key on public.email_events (campaign_id, lead_id, sequence_step)
  where campaign_id is not null and lead_id is not null and sequence_step > 0;

-- What a person may write on a lead besides its status.
alter table public.leads
  add column notes text check (char_length(notes) <= 4000),
  add column tags text[] not null default '{}'
    check (cardinality(tags) <= 20 and char_length(array_to_string(tags, ',')) <= 1000);

-- 3. Google accounts, connected per workspace -------------------------------------------------------------

-- google_connections (service only): one Google account connected by OAuth (or, as a documented
-- shortcut, the account configured in the environment). The refresh token is AES-256-GCM ciphertext
-- under TOKEN_ENCRYPTION_KEY (token_key_id names the key); no API role can read this table at all.
create table public.google_connections (
  id uuid primary key default gen_random_uuid(),
  workspace_id uuid not null references public.workspaces (id) on delete cascade,
  kind text not null default 'oauth' check (kind in ('oauth', 'environment')),
  google_sub text check (char_length(google_sub) <= 255),
  email text not null check (char_length(email) <= 320 and email ~ '^[^@\s]+@[^@\s]+$'),
  scopes text[] not null default '{}',
  refresh_token_ciphertext text,
  token_key_id text check (char_length(token_key_id) <= 64),
  status text not null default 'active' check (status in ('active', 'needs_reconnect', 'disconnected')),
  status_reason text check (char_length(status_reason) <= 1000),
  connected_by uuid references auth.users (id) on delete set null,
  connected_at timestamptz not null default now(),
  disconnected_at timestamptz,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  constraint google_connections_token_check check (
    kind = 'environment' or status = 'disconnected' or refresh_token_ciphertext is not null
  )
);
-- A Google account routes pushes to one workspace: it is live in at most one connection.
create unique index google_connections_live_email_key on public.google_connections (lower(email))
  where status <> 'disconnected';
create index google_connections_workspace_idx on public.google_connections (workspace_id);
create index google_connections_connected_by_idx on public.google_connections (connected_by);

-- Mailboxes now belong to a workspace and, for Gmail, to its connection. The rows of the one
-- deployment-wide mailbox go: they are made again, in their workspace, on first use (a history
-- cursor that goes with them is recovered by a full sync of the last 7 days).
delete from public.mailboxes;
alter table public.mailboxes
  add column workspace_id uuid not null references public.workspaces (id) on delete cascade,
  add column connection_id uuid references public.google_connections (id) on delete set null,
  add column kind text not null default 'gmail' check (kind in ('gmail', 'outbox')),
  add column status text not null default 'active' check (status in ('active', 'disconnected'));
create index mailboxes_workspace_idx on public.mailboxes (workspace_id);
create index mailboxes_connection_idx on public.mailboxes (connection_id);

alter table public.email_events add column mailbox_id uuid references public.mailboxes (id) on delete set null;
drop index public.email_events_user_gmail_message_key;
drop index public.email_events_from_sent_idx;
drop index public.email_events_thread_idx;
create unique index email_events_mailbox_gmail_message_key
  on public.email_events (mailbox_id, gmail_message_id) where gmail_message_id is not null;
create index email_events_mailbox_sent_idx on public.email_events (mailbox_id, sent_at) where sent_at is not null;
create index email_events_thread_idx on public.email_events (mailbox_id, gmail_thread_id)
  where gmail_thread_id is not null;

-- calendars: a connection's calendar, with where its incremental sync stands (null token: full sync next).
drop table public.calendar_syncs;
create table public.calendars (
  id uuid primary key default gen_random_uuid(),
  workspace_id uuid not null references public.workspaces (id) on delete cascade,
  connection_id uuid references public.google_connections (id) on delete set null,
  google_calendar_id text not null check (char_length(google_calendar_id) between 1 and 1024),
  status text not null default 'active' check (status in ('active', 'disconnected')),
  sync_token text,
  last_synced_at timestamptz,
  last_full_sync_at timestamptz,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
create unique index calendars_connection_calendar_key on public.calendars (connection_id, google_calendar_id);
create index calendars_workspace_idx on public.calendars (workspace_id);

-- Channels watch one calendar of ours. Those of the deployment-wide calendar go; the hourly run opens
-- a channel for each connected calendar.
delete from public.calendar_channels;
alter table public.calendar_channels drop column calendar_id;
alter table public.calendar_channels
  add column calendar_id uuid not null references public.calendars (id) on delete cascade;
drop index if exists public.calendar_channels_active_idx;
create index calendar_channels_active_idx on public.calendar_channels (calendar_id, expires_at)
  where status = 'active';
create index calendar_channels_calendar_idx on public.calendar_channels (calendar_id);

-- A meeting mirrors an event of one of our calendars; one row per event and calendar.
alter table public.calendar_events add column calendar_id uuid references public.calendars (id) on delete set null;
drop index public.calendar_events_user_google_event_key;
drop index public.calendar_events_google_event_idx;
create unique index calendar_events_calendar_google_event_key
  on public.calendar_events (calendar_id, google_event_id) where google_event_id is not null;
create index calendar_events_calendar_idx on public.calendar_events (calendar_id);

do $$
declare
  t text;
begin
  foreach t in array array['workspaces', 'workspace_members', 'workspace_invitations', 'google_connections', 'calendars'] loop
    execute format(
      'create trigger set_updated_at before update on public.%I for each row execute function private.set_updated_at()',
      t
    );
    execute format('alter table public.%I enable row level security', t);
    execute format('revoke all on table public.%I from anon, authenticated', t);
  end loop;
end
$$;

-- 4. The trust boundary: policies, column privileges, guards ----------------------------------------------

-- Frontend-inserted meetings no longer queue call prep by themselves: the browser cannot insert
-- meetings (the booking agent and the calendar sync write them), and every model run is admitted.
drop trigger calendar_events_call_prep on public.calendar_events;
drop function private.on_calendar_event_inserted();

do $$
declare
  t text;
begin
  foreach t in array array[
    'agent_tasks', 'campaigns', 'leads', 'email_events', 'product_insights', 'calendar_events',
    'call_scripts', 'alerts'
  ] loop
    execute format('drop policy %I on public.%I', t || ': owner reads', t);
    execute format('drop policy %I on public.%I', t || ': owner inserts', t);
    execute format('drop policy %I on public.%I', t || ': owner updates', t);
    execute format('drop policy %I on public.%I', t || ': owner deletes', t);
    execute format('revoke all on table public.%I from anon, authenticated', t);
  end loop;
end
$$;

-- workspaces: members read; owners and admins edit the settings a person keeps.
grant select on table public.workspaces to authenticated;
grant update (name, postal_address, time_zone, working_hours, working_days) on table public.workspaces to authenticated;
create policy "workspaces: members read" on public.workspaces for select to authenticated
  using (id in (select private.member_workspaces()));
create policy "workspaces: admins update settings" on public.workspaces for update to authenticated
  using (id in (select private.admin_workspaces()))
  with check (id in (select private.admin_workspaces()));

-- workspace_members: members see who else is in their workspaces; changes go through the API.
grant select on table public.workspace_members to authenticated;
create policy "workspace_members: members read" on public.workspace_members for select to authenticated
  using (workspace_id in (select private.member_workspaces()));

-- workspace_invitations: owners and admins see their workspace's, the invitee their own; never the
-- token's hash.
grant select (id, workspace_id, email, role, invited_by, expires_at, accepted_at, accepted_by, revoked_at,
  created_at, updated_at) on table public.workspace_invitations to authenticated;
create policy "workspace_invitations: admins and the invitee read" on public.workspace_invitations
  for select to authenticated
  using (
    workspace_id in (select private.admin_workspaces())
    or lower(email) = lower((select auth.jwt()) ->> 'email')
  );

-- agent_tasks: members read their workspace's tasks and start one by inserting it queued.
grant select on table public.agent_tasks to authenticated;
grant insert (workspace_id, user_id, agent_name, input, external_id) on table public.agent_tasks to authenticated;
create policy "agent_tasks: members read" on public.agent_tasks for select to authenticated
  using (workspace_id in (select private.member_workspaces()));
create policy "agent_tasks: members start tasks" on public.agent_tasks for insert to authenticated
  with check (
    user_id = (select auth.uid())
    and workspace_id in (select private.member_workspaces())
    and status = 'queued'
  );

-- leads: members read and set status (among the values a person may set), notes and tags.
grant select on table public.leads to authenticated;
grant update (status, notes, tags) on table public.leads to authenticated;
create policy "leads: members read" on public.leads for select to authenticated
  using (workspace_id in (select private.member_workspaces()));
create policy "leads: members update" on public.leads for update to authenticated
  using (workspace_id in (select private.member_workspaces()))
  with check (workspace_id in (select private.member_workspaces()));

-- email_events: members read; the author (or an admin) edits a draft's text, the author deletes it.
grant select on table public.email_events to authenticated;
grant update (subject, body_text, body_html) on table public.email_events to authenticated;
grant delete on table public.email_events to authenticated;
create policy "email_events: members read" on public.email_events for select to authenticated
  using (workspace_id in (select private.member_workspaces()));
create policy "email_events: author or admin edits drafts" on public.email_events for update to authenticated
  using (
    event_type in ('drafted', 'approved')
    and (user_id = (select auth.uid()) or workspace_id in (select private.admin_workspaces()))
  )
  with check (
    event_type = 'drafted'
    and (user_id = (select auth.uid()) or workspace_id in (select private.admin_workspaces()))
  );
create policy "email_events: author deletes drafts" on public.email_events for delete to authenticated
  using (
    event_type in ('drafted', 'approved')
    and user_id = (select auth.uid())
    and workspace_id in (select private.member_workspaces())
  );

-- alerts: a member reads and marks read the alerts addressed to them.
grant select on table public.alerts to authenticated;
grant update (read) on table public.alerts to authenticated;
create policy "alerts: recipient reads" on public.alerts for select to authenticated
  using (user_id = (select auth.uid()) and workspace_id in (select private.member_workspaces()));
create policy "alerts: recipient marks read" on public.alerts for update to authenticated
  using (user_id = (select auth.uid()) and workspace_id in (select private.member_workspaces()))
  with check (user_id = (select auth.uid()) and workspace_id in (select private.member_workspaces()));

-- Read-only for members: what the agents and workers write.
grant select on table public.campaigns to authenticated;
create policy "campaigns: members read" on public.campaigns for select to authenticated
  using (workspace_id in (select private.member_workspaces()));
grant select on table public.product_insights to authenticated;
create policy "product_insights: members read" on public.product_insights for select to authenticated
  using (workspace_id in (select private.member_workspaces()));
grant select on table public.calendar_events to authenticated;
create policy "calendar_events: members read" on public.calendar_events for select to authenticated
  using (workspace_id in (select private.member_workspaces()));
grant select on table public.call_scripts to authenticated;
create policy "call_scripts: members read" on public.call_scripts for select to authenticated
  using (workspace_id in (select private.member_workspaces()));
grant select on table public.email_suppressions to authenticated;
create policy "email_suppressions: members read" on public.email_suppressions for select to authenticated
  using (workspace_id in (select private.member_workspaces()));
grant select on table public.mailboxes to authenticated;
create policy "mailboxes: members read" on public.mailboxes for select to authenticated
  using (workspace_id in (select private.member_workspaces()));
grant select on table public.calendars to authenticated;
create policy "calendars: members read" on public.calendars for select to authenticated
  using (workspace_id in (select private.member_workspaces()));

-- Guards: what column privileges cannot say (which values a person may write). Each names its rule;
-- the service (any role but authenticated) is not bound by them.
create or replace function private.guard_lead_update() returns trigger
language plpgsql
set search_path = ''
as $$
begin
  if current_user <> 'authenticated' or new.status is not distinct from old.status then
    return new;
  end if;
  if old.status in ('bounced', 'unsubscribed') then
    raise exception 'leads: a bounced or unsubscribed lead stays so (the suppression list decides)'
      using errcode = '42501';
  end if;
  if new.status not in ('new', 'contacted', 'engaged', 'replied', 'meeting_booked', 'qualified', 'unqualified') then
    raise exception 'leads: bounced and unsubscribed are set by the service, from real bounces and unsubscribes'
      using errcode = '42501';
  end if;
  new.history := old.history || jsonb_build_array(jsonb_build_object(
    'at', now(), 'event', 'status_set', 'from', old.status, 'to', new.status, 'by', (select auth.uid())
  ));
  return new;
end
$$;
revoke all on function private.guard_lead_update() from public;
create trigger guard_lead_update before update on public.leads
  for each row execute function private.guard_lead_update();

-- An edited draft goes back to review: its approval is cleared, and the text no longer matches the
-- text its fact check passed, so it is checked again before it can be queued.
create or replace function private.guard_draft_update() returns trigger
language plpgsql
set search_path = ''
as $$
begin
  if current_user <> 'authenticated' then
    return new;
  end if;
  if old.event_type not in ('drafted', 'approved') then
    raise exception 'email_events: only a draft''s text may be edited' using errcode = '42501';
  end if;
  if new.subject is distinct from old.subject or new.body_text is distinct from old.body_text
    or new.body_html is distinct from old.body_html then
    new.event_type := 'drafted';
    new.metadata := (old.metadata - 'approved_at' - 'approved_by') || jsonb_build_object(
      'needs_review', true, 'edited_at', now(), 'edited_by', (select auth.uid())
    );
  end if;
  return new;
end
$$;
revoke all on function private.guard_draft_update() from public;
create trigger guard_draft_update before update on public.email_events
  for each row execute function private.guard_draft_update();

create or replace function private.guard_alert_update() returns trigger
language plpgsql
set search_path = ''
as $$
begin
  if current_user = 'authenticated' and new.read is distinct from old.read then
    new.read_at := case when new.read then now() end;
  end if;
  return new;
end
$$;
revoke all on function private.guard_alert_update() from public;
create trigger guard_alert_update before update on public.alerts
  for each row execute function private.guard_alert_update();

-- A time zone must be one PostgreSQL (and Intl) knows: casting to it raises otherwise.
create or replace function private.guard_workspace_settings() returns trigger
language plpgsql
set search_path = ''
as $$
begin
  if tg_op = 'INSERT' or new.time_zone is distinct from old.time_zone then
    perform now() at time zone new.time_zone;
  end if;
  return new;
end
$$;
revoke all on function private.guard_workspace_settings() from public;
create trigger guard_workspace_settings before insert or update on public.workspaces
  for each row execute function private.guard_workspace_settings();

-- The frontend's task insert is dispatched (and admitted) through the signed task.queued event; the
-- event now says which workspace the task is in.
create or replace function private.on_agent_task_inserted() returns trigger
language plpgsql security definer
set search_path = ''
as $$
begin
  if coalesce(nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'role', '') = 'authenticated' then
    perform private.emit_task_event(
      'task.queued',
      jsonb_build_object(
        'task_id', new.id, 'user_id', new.user_id, 'workspace_id', new.workspace_id, 'agent_name', new.agent_name
      )
    );
  end if;
  return null;
end
$$;
