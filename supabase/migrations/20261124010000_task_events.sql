-- Task events: database changes the backend must act on are sent, signed in the Standard Webhooks
-- format, to POST /webhook/task. On Supabase through pg_net, with the secret and URL in Vault
-- (names task_webhook_secret, task_webhook_url); where pg_net is absent (local) through
-- pg_notify('task_events'), which the dev server relays, unchanged, to the same endpoint.

-- Local stand-in for Vault, read only when Vault has no such secret. Not reachable by API roles.
create table if not exists private.settings (
  key text primary key,
  value text not null
);
alter table private.settings enable row level security;
revoke all on table private.settings from public, anon, authenticated;

create or replace function private.secret(secret_name text) returns text
language plpgsql stable security definer
set search_path = ''
as $$
declare
  found text;
begin
  if to_regclass('vault.decrypted_secrets') is not null then
    execute 'select decrypted_secret from vault.decrypted_secrets where name = $1 limit 1'
      into found using secret_name;
  end if;
  if found is null then
    select value into found from private.settings where key = secret_name;
  end if;
  return found;
end
$$;

-- Signs `msg_id.timestamp.body` with HMAC-SHA256 (Standard Webhooks v1) and delivers it.
-- Without a secret nothing is sent: an unsigned event is never emitted.
create or replace function private.emit_task_event(event_type text, data jsonb) returns void
language plpgsql security definer
set search_path = ''
as $$
declare
  msg_id text := 'msg_' || replace(gen_random_uuid()::text, '-', '');
  sent_at text := floor(extract(epoch from clock_timestamp()))::bigint::text;
  body text := jsonb_build_object(
    'type', event_type,
    'timestamp', to_char(clock_timestamp() at time zone 'utc', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
    'data', data
  )::text;
  secret text := private.secret('task_webhook_secret');
  target text := private.secret('task_webhook_url');
  signature text;
  headers jsonb;
begin
  if secret is null or secret = '' then
    raise warning 'task_webhook_secret is not set; % event not sent', event_type;
    return;
  end if;
  signature := 'v1,' || encode(
    extensions.hmac(
      convert_to(msg_id || '.' || sent_at || '.' || body, 'UTF8'),
      decode(regexp_replace(secret, '^whsec_', ''), 'base64'),
      'sha256'
    ),
    'base64'
  );
  headers := jsonb_build_object(
    'content-type', 'application/json',
    'webhook-id', msg_id,
    'webhook-timestamp', sent_at,
    'webhook-signature', signature
  );
  if to_regnamespace('net') is not null and target is not null then
    execute 'select net.http_post(url := $1, body := $2::jsonb, headers := $3)' using target, body, headers;
  else
    perform pg_notify('task_events', jsonb_build_object('headers', headers, 'body', body)::text);
  end if;
end
$$;

-- A task the frontend inserts (as the signed-in user, under RLS) with status queued is dispatched.
-- Rows the backend writes itself carry no user claims and are dispatched by the backend directly.
create or replace function private.on_agent_task_inserted() returns trigger
language plpgsql security definer
set search_path = ''
as $$
begin
  if coalesce(nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'role', '') = 'authenticated' then
    perform private.emit_task_event(
      'task.queued',
      jsonb_build_object('task_id', new.id, 'user_id', new.user_id, 'agent_name', new.agent_name)
    );
  end if;
  return null;
end
$$;

revoke all on function private.secret(text) from public;
revoke all on function private.emit_task_event(text, jsonb) from public;
revoke all on function private.on_agent_task_inserted() from public;

create trigger agent_tasks_queued_event
  after insert on public.agent_tasks
  for each row when (new.status = 'queued')
  execute function private.on_agent_task_inserted();

-- The frontend may start a task, not forge its outcome.
drop policy "agent_tasks: owner inserts" on public.agent_tasks;
create policy "agent_tasks: owner inserts" on public.agent_tasks for insert to authenticated
  with check (
    (select auth.uid()) = user_id
    and status = 'queued'
    and output is null and error is null and model is null
    and prompt_tokens = 0 and completion_tokens = 0 and cost_usd = 0
    and started_at is null and completed_at is null
  );
