-- Bounce protection. A mailbox or a campaign whose bounce rate reaches the threshold (after enough
-- sends) is paused by the service, with the reason, until an owner or admin resumes it through the
-- API; the rate then counts again from the resume (bounce_guard_since), so a cleaned list gets a
-- fresh start instead of being paused again by the bounces that caused the pause. Service-written
-- only: members read them (the existing select grants), nobody in the browser writes them.
alter table public.mailboxes add column bounce_guard_since timestamptz;
comment on column public.mailboxes.bounce_guard_since is
  'The bounce rate of this mailbox counts sends from here (set when it is resumed after a pause).';

alter table public.campaigns add column pause_reason text;
alter table public.campaigns add column bounce_guard_since timestamptz;
comment on column public.campaigns.pause_reason is 'Why the service paused the campaign (its bounce rate).';
comment on column public.campaigns.bounce_guard_since is
  'The bounce rate of this campaign counts sends from here (set when it is resumed after a pause).';
