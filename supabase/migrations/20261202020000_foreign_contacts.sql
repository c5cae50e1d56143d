-- Whether the lead-generation scraper keeps addresses on a domain other than the site's (a partner's,
-- a free mailbox, one a page's text or an injected block names). Off by default: such an address is
-- dropped, and a lead that has one is never emailed unless the workspace turns this on. Owners and
-- admins may change it, like the other settings a person keeps.
alter table public.workspaces add column accept_foreign_contacts boolean not null default false;
comment on column public.workspaces.accept_foreign_contacts is
  'Keep (and email) addresses on a domain other than the scraped site''s; leads with one are marked foreign_domain.';
grant update (accept_foreign_contacts) on table public.workspaces to authenticated;
