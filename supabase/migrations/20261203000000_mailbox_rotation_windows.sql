-- Deliverability, second half: several mailboxes per workspace with a ramp each, campaigns that send
-- from a chosen set of them, and sending windows in each lead's local time.

-- A mailbox starts at ramp_start a day and rises by ramp_step each day from ramp_started_at until it
-- reaches daily_cap (30 by default: about what cold-email providers advise per mailbox). Mailboxes
-- that already sent before this migration count as ramped. Service-written; members read them.
alter table public.mailboxes add column ramp_start integer not null default 5
  check (ramp_start between 1 and 2000);
alter table public.mailboxes add column ramp_step integer not null default 2
  check (ramp_step between 0 and 2000);
alter table public.mailboxes add column ramp_started_at timestamptz not null default now();
update public.mailboxes set ramp_started_at = created_at - interval '365 days';
alter table public.mailboxes add column gap_jitter_seconds integer not null default 60
  check (gap_jitter_seconds between 0 and 3600);
alter table public.mailboxes alter column daily_cap set default 30;
alter table public.mailboxes alter column hourly_cap set default 8;

-- The mailboxes a campaign rotates between (empty: every live mailbox of its workspace). Written
-- through the API by owners and admins; every id is checked to be a mailbox of the workspace.
alter table public.campaigns add column mailbox_ids uuid[] not null default '{}';

-- When a workspace's emails may arrive, in each lead's local time; public holidays of the lead's
-- country are skipped unless turned off.
-- The window must end after it starts (HH:MM compares as text): one that never opens would hold
-- every email for ever, and the browser writes this column directly.
alter table public.workspaces add column sending_hours text not null default '09:00-17:00'
  check (sending_hours ~ '^([01]\d|2[0-3]):[0-5]\d-([01]\d|2[0-4]):[0-5]\d$'
    and split_part(sending_hours, '-', 1) collate "C" < split_part(sending_hours, '-', 2) collate "C");
alter table public.workspaces add column sending_days text not null default '1-5'
  check (sending_days ~ '^[1-7](-[1-7])?(,[1-7](-[1-7])?)*$');
alter table public.workspaces add column skip_holidays boolean not null default true;
-- Settings, like the working hours: owners and admins change them (the workspace's update policy).
grant update (sending_hours, sending_days, skip_holidays) on table public.workspaces to authenticated;

-- A lead's time zone and country, with where they came from: 'explicit' (set by a member), or
-- inferred by the service from the lead's 'address', 'phone' or web 'domain', else the 'workspace's.
alter table public.leads add column time_zone text check (char_length(time_zone) <= 64);
alter table public.leads add column time_zone_source text
  check (time_zone_source in ('explicit', 'address', 'phone', 'domain', 'workspace'));
alter table public.leads add column country text check (country ~ '^[A-Z]{2}$');

-- A member may set a lead's time zone (an intent: when to write to them); the database records it
-- as explicit, and refuses a zone it does not know. Clearing it lets the service infer it again.
grant update (time_zone) on table public.leads to authenticated;
create or replace function private.guard_lead_time_zone() returns trigger
language plpgsql
set search_path = ''
as $$
begin
  if current_user <> 'authenticated' or new.time_zone is not distinct from old.time_zone then
    return new;
  end if;
  if new.time_zone is null then
    new.time_zone_source := null;
    return new;
  end if;
  begin
    perform now() at time zone new.time_zone;
  exception when others then
    raise exception 'leads: % is not a time zone', new.time_zone using errcode = '22023';
  end;
  new.time_zone_source := 'explicit';
  return new;
end;
$$;
create trigger guard_lead_time_zone before update of time_zone on public.leads
  for each row execute function private.guard_lead_time_zone();
