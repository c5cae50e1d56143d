-- Model spend limits in USD beside the token limits, per workspace per UTC day and per member in it;
-- null: the deployment's default (LLM_DAILY_USD_BUDGET, LLM_MEMBER_DAILY_USD_BUDGET). Like the
-- token limits these are the operator's (service role) to set: no member may raise them, so no
-- column privilege is granted and the workspace-settings guard leaves them out.
alter table public.workspaces
  add column usd_budget_daily numeric(12, 4) check (usd_budget_daily > 0),
  add column member_usd_budget_daily numeric(12, 4) check (member_usd_budget_daily > 0);

comment on column public.workspaces.token_budget_daily is
  'Model tokens per UTC day for the whole workspace; null: LLM_DAILY_TOKEN_BUDGET. Service role only.';
comment on column public.workspaces.member_token_budget_daily is
  'Model tokens per UTC day for each member; null: LLM_MEMBER_DAILY_TOKEN_BUDGET, else the workspace''s. Service role only.';
comment on column public.workspaces.usd_budget_daily is
  'Model spend in USD per UTC day for the whole workspace; null: LLM_DAILY_USD_BUDGET. Service role only.';
comment on column public.workspaces.member_usd_budget_daily is
  'Model spend in USD per UTC day for each member; null: LLM_MEMBER_DAILY_USD_BUDGET, else the workspace''s. Service role only.';
