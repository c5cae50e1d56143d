-- Outbound email: the addresses a user may no longer write to. Service only: the backend adds an
-- address on an unsubscribe, a bounce or a complaint, and checks it before every send.

create table public.email_suppressions (
  id uuid primary key default gen_random_uuid(),
  user_id uuid not null references auth.users (id) on delete cascade,
  email text not null check (char_length(email) <= 320 and email ~ '^[^@\s]+@[^@\s]+$'),
  reason text not null check (reason in ('unsubscribed', 'bounced', 'complained', 'manual')),
  source text check (char_length(source) <= 200),
  lead_id uuid,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  constraint email_suppressions_lead_fkey foreign key (lead_id, user_id)
    references public.leads (id, user_id) on delete set null (lead_id)
);
create unique index email_suppressions_user_email_key on public.email_suppressions (user_id, lower(email));
create index email_suppressions_lead_idx on public.email_suppressions (lead_id, user_id);

create trigger set_updated_at before update on public.email_suppressions
  for each row execute function private.set_updated_at();
alter table public.email_suppressions enable row level security;
revoke all on table public.email_suppressions from anon, authenticated;
