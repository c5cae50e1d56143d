-- Demo data for local development (`supabase db reset` locally, or the first `npm run dev`).
-- One small business, Northwind Roasters, a week into using the agent team: its owner Maya (whose
-- sign-up made the workspace, which has her user id) and Leo, a member she invited, who works the
-- same leads and drafts.

insert into auth.users (id, aud, role, email, raw_app_meta_data, raw_user_meta_data)
values (
  '5f0c1a7e-2b9d-4c61-9a53-7d2e8b4f6c10', 'authenticated', 'authenticated', 'demo@northwind.example',
  '{"provider":"email","providers":["email"]}', '{"full_name":"Maya Okafor","company":"Northwind Roasters"}'
)
on conflict (id) do nothing;

insert into auth.users (id, aud, role, email, raw_app_meta_data, raw_user_meta_data)
values (
  '7a1e2c3d-4b5f-4a6e-9c7d-8e9f0a1b2c3d', 'authenticated', 'authenticated', 'leo@northwind.example',
  '{"provider":"email","providers":["email"]}', '{"full_name":"Leo Park"}'
)
on conflict (id) do nothing;

-- Both demo people sign in with the password `northwind-demo` (local and `supabase start` only: the
-- seed never runs on a hosted project). Their addresses count as confirmed.
update auth.users
set encrypted_password = extensions.crypt('northwind-demo', extensions.gen_salt('bf', 10)),
    email_confirmed_at = coalesce(email_confirmed_at, now())
where id in ('5f0c1a7e-2b9d-4c61-9a53-7d2e8b4f6c10', '7a1e2c3d-4b5f-4a6e-9c7d-8e9f0a1b2c3d')
  and encrypted_password is null;

-- Maya's sign-up made her personal workspace; it is the business's.
update public.workspaces
set name = 'Northwind Roasters',
    postal_address = 'Northwind Roasters Ltd, 12 Quay Street, Bristol BS1 4DJ, United Kingdom',
    time_zone = 'Europe/London'
where id = '5f0c1a7e-2b9d-4c61-9a53-7d2e8b4f6c10';

insert into public.workspace_members (workspace_id, user_id, role, invited_by)
values ('5f0c1a7e-2b9d-4c61-9a53-7d2e8b4f6c10', '7a1e2c3d-4b5f-4a6e-9c7d-8e9f0a1b2c3d', 'member',
        '5f0c1a7e-2b9d-4c61-9a53-7d2e8b4f6c10')
on conflict do nothing;

insert into public.workspace_invitations (workspace_id, email, role, token_hash, invited_by, expires_at, accepted_at, accepted_by, created_at)
values ('5f0c1a7e-2b9d-4c61-9a53-7d2e8b4f6c10', 'leo@northwind.example', 'member',
        encode(extensions.digest('seed-invitation-leo', 'sha256'), 'hex'), '5f0c1a7e-2b9d-4c61-9a53-7d2e8b4f6c10',
        now() + interval '4 days', now() - interval '2 days', '7a1e2c3d-4b5f-4a6e-9c7d-8e9f0a1b2c3d', now() - interval '3 days')
on conflict do nothing;

insert into public.agent_tasks (id, user_id, agent_name, status, input, output, model, prompt_tokens, completion_tokens, cost_usd, started_at, completed_at, created_at)
values
  ('0b7a3c1e-5d2f-4e8a-9c61-3f4b2a1d0e01', '5f0c1a7e-2b9d-4c61-9a53-7d2e8b4f6c10', 'product-manager', 'completed',
   '{"prompt":"What should we build next for our wholesale customers?"}',
   '{"response":"Focus on a reorder reminder and a self-serve wholesale portal."}',
   'nvidia/nemotron-nano-12b-v2-vl:free', 1840, 612, 0, now() - interval '6 days', now() - interval '6 days' + interval '9 seconds', now() - interval '6 days'),
  ('0b7a3c1e-5d2f-4e8a-9c61-3f4b2a1d0e02', '5f0c1a7e-2b9d-4c61-9a53-7d2e8b4f6c10', 'finance-manager', 'completed',
   '{"prompt":"Monthly revenue 42k, costs 37k, cash 120k. How long is our runway?"}',
   '{"response":"You are profitable by 5k a month; runway is not a constraint at current burn."}',
   'nvidia/nemotron-nano-12b-v2-vl:free', 1320, 540, 0, now() - interval '5 days', now() - interval '5 days' + interval '7 seconds', now() - interval '5 days'),
  ('0b7a3c1e-5d2f-4e8a-9c61-3f4b2a1d0e03', '5f0c1a7e-2b9d-4c61-9a53-7d2e8b4f6c10', 'leadgen-scraper', 'completed',
   '{"target_urls":["https://example.com/cafes"],"criteria":{"industries":["hospitality"],"roles":["owner","buyer"]}}',
   '{"summary":"3 leads from 1 site"}',
   'anthropic/claude-3-haiku', 2210, 380, 0.00102, now() - interval '3 days', now() - interval '3 days' + interval '41 seconds', now() - interval '3 days'),
  ('0b7a3c1e-5d2f-4e8a-9c61-3f4b2a1d0e04', '5f0c1a7e-2b9d-4c61-9a53-7d2e8b4f6c10', 'marketing-strategist', 'failed',
   '{"prompt":"Plan a holiday gift-box campaign"}', null,
   'nvidia/nemotron-nano-12b-v2-vl:free', 0, 0, 0, now() - interval '1 day', now() - interval '1 day' + interval '30 seconds', now() - interval '1 day')
on conflict do nothing;

update public.agent_tasks set error = 'Model timed out after 3 attempts'
where id = '0b7a3c1e-5d2f-4e8a-9c61-3f4b2a1d0e04';

insert into public.leads (id, user_id, task_id, name, email, company, role, website, location, industry, source_url, score, score_reasons, status, created_at)
values
  ('1c8b4d2f-6e3a-4f9b-8d72-4a5c3b2e1f01', '5f0c1a7e-2b9d-4c61-9a53-7d2e8b4f6c10', '0b7a3c1e-5d2f-4e8a-9c61-3f4b2a1d0e03',
   'Priya Raman', 'priya@harbourcafe.example', 'Harbour Cafe', 'Owner', 'https://harbourcafe.example', 'Bristol, UK', 'hospitality',
   'https://harbourcafe.example/about', 86,
   '[{"factor":"role_fit","points":30,"reason":"Owner: decides on suppliers"},{"factor":"contact_quality","points":30,"reason":"Personal address from the team page"},{"factor":"criteria_match","points":26,"reason":"Independent cafe in a target city"}]',
   'engaged', now() - interval '3 days'),
  ('1c8b4d2f-6e3a-4f9b-8d72-4a5c3b2e1f02', '5f0c1a7e-2b9d-4c61-9a53-7d2e8b4f6c10', '0b7a3c1e-5d2f-4e8a-9c61-3f4b2a1d0e03',
   'Tom Becker', 'tom.becker@greenleafbakery.example', 'Greenleaf Bakery', 'Purchasing lead', 'https://greenleafbakery.example', 'Bath, UK', 'hospitality',
   'https://greenleafbakery.example/team', 71,
   '[{"factor":"role_fit","points":25,"reason":"Buys ingredients and coffee"},{"factor":"contact_quality","points":28,"reason":"Named address, MX verified"},{"factor":"criteria_match","points":18,"reason":"Bakery with a coffee counter"}]',
   'contacted', now() - interval '3 days'),
  ('1c8b4d2f-6e3a-4f9b-8d72-4a5c3b2e1f03', '5f0c1a7e-2b9d-4c61-9a53-7d2e8b4f6c10', '0b7a3c1e-5d2f-4e8a-9c61-3f4b2a1d0e03',
   null, 'hello@thecornerdeli.example', 'The Corner Deli', null, 'https://thecornerdeli.example', 'Cardiff, UK', 'hospitality',
   'https://thecornerdeli.example/contact', 42,
   '[{"factor":"contact_quality","points":12,"reason":"Role address (hello@)"},{"factor":"criteria_match","points":30,"reason":"Deli serving coffee"}]',
   'new', now() - interval '3 days')
on conflict do nothing;

-- A lead Leo added to the same workspace: Maya sees it too.
insert into public.leads (id, user_id, workspace_id, name, email, company, role, website, location, industry, source_url, score, score_reasons, status, notes, tags, created_at)
values
  ('1c8b4d2f-6e3a-4f9b-8d72-4a5c3b2e1f04', '7a1e2c3d-4b5f-4a6e-9c7d-8e9f0a1b2c3d', '5f0c1a7e-2b9d-4c61-9a53-7d2e8b4f6c10',
   'Sofia Marin', 'sofia@bluedoorcoffee.example', 'Blue Door Coffee', 'Owner', 'https://bluedoorcoffee.example', 'Bristol, UK', 'hospitality',
   'https://bluedoorcoffee.example/about', 78,
   '[{"factor":"role_fit","points":25,"reason":"Owner: decides on suppliers"},{"factor":"contact_quality","points":30,"reason":"Personal address from the about page"},{"factor":"criteria_match","points":23,"reason":"Independent cafe in Bristol"}]',
   'new', 'Met at the Bristol coffee festival; asked about decaf.', '{festival,decaf}', now() - interval '2 days')
on conflict do nothing;

insert into public.product_insights (user_id, task_id, title, content, tags, priority, source, evidence, fingerprint, created_at)
values
  ('5f0c1a7e-2b9d-4c61-9a53-7d2e8b4f6c10', '0b7a3c1e-5d2f-4e8a-9c61-3f4b2a1d0e01', 'Wholesale customers reorder on a 3-week cycle',
   'Most cafes reorder every 18–24 days; a reminder two days before would cut stock-outs.', '{retention,wholesale}', 'high', 'product-manager',
   '[{"kind":"task","ref":"0b7a3c1e-5d2f-4e8a-9c61-3f4b2a1d0e01"}]', 'wholesale customers reorder on a 3 week cycle', now() - interval '6 days'),
  ('5f0c1a7e-2b9d-4c61-9a53-7d2e8b4f6c10', '0b7a3c1e-5d2f-4e8a-9c61-3f4b2a1d0e01', 'Self-serve wholesale portal',
   'Phone and email orders take about 6 hours a week; a portal with saved orders would free that time.', '{operations,wholesale}', 'medium', 'product-manager',
   '[]', 'self serve wholesale portal', now() - interval '6 days')
on conflict do nothing;

insert into public.campaigns (id, user_id, name, description, channel, status, audience, message, schedule, kpis, steps, created_at)
values
  ('2d9c5e3a-7f4b-4a0c-9e83-5b6d4c3f2a01', '5f0c1a7e-2b9d-4c61-9a53-7d2e8b4f6c10', 'Independent cafes — spring wholesale',
   'Introduce the seasonal single-origin range to independent cafes in the South West.', 'email', 'active',
   'Owners and buyers of independent cafes and bakeries', 'Freshly roasted, delivered weekly, no minimum order.',
   '{"start":"2026-11-20","cadence":"weekdays 9-11am"}', '[{"name":"reply_rate","target":0.08},{"name":"meetings","target":6}]',
   '[{"day":0,"instruction":"Introduce the range"},{"day":4,"instruction":"Offer a free tasting pack"},{"day":10,"instruction":"Last gentle nudge"}]',
   now() - interval '4 days'),
  ('2d9c5e3a-7f4b-4a0c-9e83-5b6d4c3f2a02', '5f0c1a7e-2b9d-4c61-9a53-7d2e8b4f6c10', 'Holiday gift boxes',
   'Gift boxes for corporate clients.', 'linkedin', 'draft', 'Office managers at 20–200 person companies', null,
   '{}', '[]', '[]', now() - interval '1 day')
on conflict do nothing;

insert into public.email_events (user_id, lead_id, campaign_id, event_type, to_email, from_email, subject, body_text, message_id, sent_at, created_at)
values
  ('5f0c1a7e-2b9d-4c61-9a53-7d2e8b4f6c10', '1c8b4d2f-6e3a-4f9b-8d72-4a5c3b2e1f02', '2d9c5e3a-7f4b-4a0c-9e83-5b6d4c3f2a01', 'outboxed',
   'tom.becker@greenleafbakery.example', 'maya@northwind.example', 'Coffee for Greenleaf''s counter',
   'Hi Tom, I saw Greenleaf now serves coffee with the morning bakes...', '<seed-1@northwind.example>', now() - interval '2 days', now() - interval '2 days')
on conflict do nothing;

insert into public.calendar_events (id, user_id, lead_id, title, start_time, duration_minutes, time_zone, status, sync_status, attendees, created_at)
values
  ('3e0d6f4b-8a5c-4b1d-8f94-6c7e5d4a3b01', '5f0c1a7e-2b9d-4c61-9a53-7d2e8b4f6c10', '1c8b4d2f-6e3a-4f9b-8d72-4a5c3b2e1f01',
   'Discovery call — Harbour Cafe', date_trunc('hour', now()) + interval '2 days 10 hours', 30, 'Europe/London', 'scheduled', 'not_synced',
   '[{"email":"priya@harbourcafe.example","name":"Priya Raman"}]', now() - interval '1 day')
on conflict do nothing;

insert into public.call_scripts (user_id, lead_id, calendar_event_id, meeting_type, script, response, sources, created_at)
values
  ('5f0c1a7e-2b9d-4c61-9a53-7d2e8b4f6c10', '1c8b4d2f-6e3a-4f9b-8d72-4a5c3b2e1f01', '3e0d6f4b-8a5c-4b1d-8f94-6c7e5d4a3b01', 'discovery',
   '{"opening":"Thanks for making time, Priya — congratulations on the new harbour-front seating.","discovery_questions":["Who roasts for you today?","How often do you run out of beans?"],"value_proposition":"Weekly roasting, next-day delivery in Bristol.","objection_handling":[{"objection":"We are happy with our roaster","answer":"Offer a side-by-side tasting."}],"next_steps":"Send a tasting pack and book a follow-up."}',
   'A discovery script for Priya Raman (Harbour Cafe).',
   '[{"kind":"lead","ref":"1c8b4d2f-6e3a-4f9b-8d72-4a5c3b2e1f01"}]', now() - interval '1 day')
on conflict do nothing;

insert into public.alerts (user_id, task_id, type, severity, title, message, read, created_at)
values
  ('5f0c1a7e-2b9d-4c61-9a53-7d2e8b4f6c10', '0b7a3c1e-5d2f-4e8a-9c61-3f4b2a1d0e03', 'leadgen.completed', 'info', 'Lead generation finished',
   '3 leads from 1 site', true, now() - interval '3 days'),
  ('5f0c1a7e-2b9d-4c61-9a53-7d2e8b4f6c10', null, 'email.replied', 'info', 'Priya Raman replied',
   'Harbour Cafe replied to "Coffee for Harbour Cafe" — the sequence has stopped.', false, now() - interval '2 days'),
  ('5f0c1a7e-2b9d-4c61-9a53-7d2e8b4f6c10', '0b7a3c1e-5d2f-4e8a-9c61-3f4b2a1d0e04', 'task.failed', 'warning', 'Marketing Strategist failed',
   'Model timed out after 3 attempts', false, now() - interval '1 day')
on conflict do nothing;
