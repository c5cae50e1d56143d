-- The sending domain's DNS as last checked for each mailbox (MX, SPF for Google, the DKIM key of the
-- selector, DMARC; lib/email/sender-check.ts): before its first send and again when a day old.
-- Service-written; members read it with the rest of the mailbox.
alter table public.mailboxes add column sender_check jsonb;
alter table public.mailboxes add column sender_checked_at timestamptz;
comment on column public.mailboxes.sender_check is
  'verdict (ok | warning | refused | unknown), problems, and the mx, spf, dkim and dmarc findings.';
