-- Sending mailboxes and the states an email passes through while it is being sent.

-- mailboxes (service only): pacing limits, a pause after a quota error, Gmail push state.
create table public.mailboxes (
  id uuid primary key default gen_random_uuid(),
  address text not null check (char_length(address) <= 320 and address ~ '^[^@\s]+@[^@\s]+$'),
  display_name text check (char_length(display_name) <= 200),
  daily_cap integer not null default 50 check (daily_cap between 1 and 2000),
  hourly_cap integer not null default 12 check (hourly_cap between 1 and 500),
  min_gap_seconds integer not null default 90 check (min_gap_seconds between 0 and 86400),
  paused_until timestamptz,
  pause_reason text,
  history_id text,
  watch_expires_at timestamptz,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
create unique index mailboxes_address_key on public.mailboxes (lower(address));
create trigger set_updated_at before update on public.mailboxes
  for each row execute function private.set_updated_at();
alter table public.mailboxes enable row level security;
revoke all on table public.mailboxes from anon, authenticated;

-- 'sending': claimed by a worker, outcome not yet known; 'cancelled': stopped before sending
-- (suppressed address, a reply, a paused campaign), with the reason in `error`.
alter table public.email_events drop constraint email_events_event_type_check;
alter table public.email_events add constraint email_events_event_type_check check (event_type in (
  'drafted', 'approved', 'queued', 'sending', 'sent', 'outboxed', 'delivered', 'opened', 'clicked',
  'replied', 'bounced', 'complained', 'unsubscribed', 'failed', 'cancelled'
));
-- Pacing counts a mailbox's sends over rolling windows.
create index email_events_from_sent_idx on public.email_events (lower(from_email), sent_at)
  where sent_at is not null;
