-- Lead generation: contacts kept with each scraped page (so a cached page needs no second fetch),
-- and a merge key for leads found without an address (a named person on a team page).

alter table public.scrapes
  add column contacts jsonb not null default '{}'::jsonb;

alter table public.leads
  add column lead_key text check (lead_key is null or char_length(lead_key) <= 400);

-- Leads with an address merge on (user_id, lower(email)); those without one on their key.
create unique index leads_user_lead_key_key on public.leads (user_id, lead_key)
  where email is null and lead_key is not null;
