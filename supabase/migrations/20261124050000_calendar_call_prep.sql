-- A meeting the frontend adds to calendar_events (as the signed-in user, under RLS) gets a call
-- script: the trigger queues a booking-callprep task for that meeting, whose own trigger sends the
-- signed task.queued event; the agent prepares the call without booking anything.

create or replace function private.on_calendar_event_inserted() returns trigger
language plpgsql security definer
set search_path = ''
as $$
begin
  if coalesce(nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'role', '') = 'authenticated' then
    insert into public.agent_tasks (user_id, agent_name, status, input)
    values (
      new.user_id,
      'booking-callprep',
      'queued',
      jsonb_strip_nulls(jsonb_build_object(
        'user_id', new.user_id,
        'calendar_event_id', new.id,
        'lead_id', new.lead_id,
        'prompt', 'Prepare me for this call.'
      ))
    );
  end if;
  return null;
end
$$;

revoke all on function private.on_calendar_event_inserted() from public;

create trigger calendar_events_call_prep
  after insert on public.calendar_events
  for each row when (new.status in ('scheduled', 'tentative', 'confirmed'))
  execute function private.on_calendar_event_inserted();
