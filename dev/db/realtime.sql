-- Dev-only change capture for the local Supabase Realtime stand-in (dev/supabase/realtime/).
--
-- Hosted Realtime reads row changes from logical replication (wal2json through a replication slot).
-- PGlite has no replication slots, so locally every table in the `supabase_realtime` publication
-- gets an AFTER row trigger that sends the change with NOTIFY instead. NOTIFY is transactional: a
-- change is delivered only when its transaction commits, never for a rollback, and notifications
-- reach the listener in commit order, which is the order Realtime delivers in.
--
-- Never part of a migration: the dev server and the tests run this script after migrating, so it
-- is idempotent, and a table a later migration adds to the publication gets its trigger on the
-- next start (a table removed from the publication loses it).

create schema if not exists realtime_dev;
revoke all on schema realtime_dev from public;

-- A NOTIFY payload is limited to 8000 bytes. A change bigger than that is parked here and the
-- notification carries only its id; the listener reads the row and deletes it.
create table if not exists realtime_dev.changes (
  id bigint generated always as identity primary key,
  payload jsonb not null,
  created_at timestamptz not null default now()
);
revoke all on table realtime_dev.changes from public;

-- Runs as its owner (security definer) so a write by any role can park a big change; the search
-- path is empty so nothing the writer controls resolves a name in it.
create or replace function realtime_dev.capture() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
  change jsonb;
  parked bigint;
begin
  change := jsonb_build_object(
    'schema', tg_table_schema,
    'table', tg_table_name,
    'type', tg_op,
    -- Hosted Realtime stamps the commit time; a trigger cannot know it, the transaction's start
    -- time is the closest stable value (the same for every row of the transaction).
    'commit_timestamp', to_char(now() at time zone 'utc', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
    'record', case when tg_op <> 'DELETE' then to_jsonb(new) end,
    'old_record', case when tg_op <> 'INSERT' then to_jsonb(old) end
  );
  if octet_length(change::text) <= 7000 then
    perform pg_notify('realtime_dev', change::text);
  else
    insert into realtime_dev.changes (payload) values (change) returning id into parked;
    perform pg_notify('realtime_dev', jsonb_build_object('ref', parked)::text);
  end if;
  return null;
end
$$;
revoke all on function realtime_dev.capture() from public;

-- Parked changes from an earlier run have no listener waiting for them any more.
delete from realtime_dev.changes;

do $$
declare
  t record;
begin
  for t in
    select p.schemaname, p.tablename
    from pg_publication_tables p
    where p.pubname = 'supabase_realtime'
      and not exists (
        select 1 from pg_trigger g
        join pg_class c on c.oid = g.tgrelid
        join pg_namespace n on n.oid = c.relnamespace
        where g.tgname = 'realtime_dev_capture' and n.nspname = p.schemaname and c.relname = p.tablename
      )
  loop
    execute format(
      'create trigger realtime_dev_capture after insert or update or delete on %I.%I '
      'for each row execute function realtime_dev.capture()',
      t.schemaname, t.tablename
    );
  end loop;

  for t in
    select n.nspname as schemaname, c.relname as tablename
    from pg_trigger g
    join pg_class c on c.oid = g.tgrelid
    join pg_namespace n on n.oid = c.relnamespace
    where g.tgname = 'realtime_dev_capture'
      and not exists (
        select 1 from pg_publication_tables p
        where p.pubname = 'supabase_realtime' and p.schemaname = n.nspname and p.tablename = c.relname
      )
  loop
    execute format('drop trigger realtime_dev_capture on %I.%I', t.schemaname, t.tablename);
  end loop;
end
$$;
