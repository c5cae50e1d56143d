-- Google Calendar push: the notification channels we opened on the business calendar, and where
-- its incremental sync stands. Both are service only; the frontend sees the result in
-- calendar_events.

-- calendar_channels: a channel is verified by its token (HMAC of its id under
-- CALENDAR_CHANNEL_SECRET; key_id tells which secret signed it) and by the resource id Google gave it.
create table public.calendar_channels (
  id text primary key check (char_length(id) between 1 and 64 and id ~ '^[A-Za-z0-9_\-]+$'),
  calendar_id text not null check (char_length(calendar_id) between 1 and 1024),
  resource_id text not null check (char_length(resource_id) between 1 and 1024),
  resource_uri text,
  key_id text not null check (char_length(key_id) between 1 and 64),
  status text not null default 'active' check (status in ('active', 'stopped')),
  expires_at timestamptz not null,
  stopped_at timestamptz,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
create index calendar_channels_active_idx on public.calendar_channels (calendar_id, expires_at)
  where status = 'active';
create trigger set_updated_at before update on public.calendar_channels
  for each row execute function private.set_updated_at();
alter table public.calendar_channels enable row level security;
revoke all on table public.calendar_channels from anon, authenticated;

-- calendar_syncs: the sync token of the last complete sync of each calendar (null = full sync next).
create table public.calendar_syncs (
  calendar_id text primary key check (char_length(calendar_id) between 1 and 1024),
  sync_token text,
  last_synced_at timestamptz,
  last_full_sync_at timestamptz,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
create trigger set_updated_at before update on public.calendar_syncs
  for each row execute function private.set_updated_at();
alter table public.calendar_syncs enable row level security;
revoke all on table public.calendar_syncs from anon, authenticated;

-- Meetings are found again by their Google id whichever user holds them.
create index calendar_events_google_event_idx on public.calendar_events (google_event_id)
  where google_event_id is not null;
