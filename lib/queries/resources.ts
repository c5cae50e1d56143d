import { arrayContains, eq, gte } from "drizzle-orm";
import type { PgColumn, PgTable } from "drizzle-orm/pg-core";
import { z } from "zod";
import type { SessionUser } from "../auth/session";
import {
  agentNames,
  agentTasks,
  alertSeverities,
  alerts,
  campaignStatuses,
  campaigns,
  insightPriorities,
  leadStatuses,
  leads,
  productInsights,
  taskStatuses,
} from "../db/schema";
import { booleanQuery, listPage, type Page, pageQuery, type SortKey } from "./list";

/**
 * The five read endpoints kept from the prototype (`GET /api/{resource}/{user_id}`): their query
 * schemas (which also document them in OpenAPI) and sort orders.
 */
interface Resource<Q extends z.ZodObject> {
  name: string;
  summary: string;
  query: Q;
  /** The table rows come from, for the OpenAPI row schema. */
  table: PgTable;
  list(user: SessionUser, query: z.output<Q>): Promise<Page<Record<string, unknown>>>;
}

const newestFirst = (table: PgTable & { created_at: PgColumn; id: PgColumn }): SortKey[] => [
  { column: table.created_at, cast: "timestamptz" },
  { column: table.id, cast: "uuid" },
];

const taskQuery = z.object({
  ...pageQuery(20),
  status: z.enum(taskStatuses).optional(),
  agent: z.enum(agentNames).optional(),
});
export const tasksResource: Resource<typeof taskQuery> = {
  name: "tasks",
  table: agentTasks,
  summary: "The caller's agent tasks, newest first",
  query: taskQuery,
  list: (user, query) =>
    listPage(user, {
      table: agentTasks,
      keys: newestFirst(agentTasks),
      filters: [
        query.status ? eq(agentTasks.status, query.status) : undefined,
        query.agent ? eq(agentTasks.agent_name, query.agent) : undefined,
      ],
      limit: query.limit,
      cursor: query.cursor,
    }),
};

const leadQuery = z.object({
  ...pageQuery(50),
  status: z.enum(leadStatuses).optional(),
  min_score: z.coerce.number().int().min(0).max(100).optional(),
});
export const leadsResource: Resource<typeof leadQuery> = {
  name: "leads",
  table: leads,
  summary: "The caller's leads, highest score first",
  query: leadQuery,
  list: (user, query) =>
    listPage(user, {
      table: leads,
      keys: [{ column: leads.score, cast: "integer" }, ...newestFirst(leads)],
      filters: [
        query.status ? eq(leads.status, query.status) : undefined,
        query.min_score !== undefined ? gte(leads.score, query.min_score) : undefined,
      ],
      limit: query.limit,
      cursor: query.cursor,
    }),
};

const insightQuery = z.object({
  ...pageQuery(20),
  priority: z.enum(insightPriorities).optional(),
  tag: z.string().min(1).max(64).optional(),
});
export const insightsResource: Resource<typeof insightQuery> = {
  name: "insights",
  table: productInsights,
  summary: "The caller's product insights, newest first",
  query: insightQuery,
  list: (user, query) =>
    listPage(user, {
      table: productInsights,
      keys: newestFirst(productInsights),
      filters: [
        query.priority ? eq(productInsights.priority, query.priority) : undefined,
        query.tag ? arrayContains(productInsights.tags, [query.tag]) : undefined,
      ],
      limit: query.limit,
      cursor: query.cursor,
    }),
};

const campaignQuery = z.object({
  ...pageQuery(20),
  status: z.enum(campaignStatuses).optional(),
  channel: z
    .string()
    .regex(/^[a-z][a-z0-9_-]{0,31}$/)
    .optional(),
});
export const campaignsResource: Resource<typeof campaignQuery> = {
  name: "campaigns",
  table: campaigns,
  summary: "The caller's campaigns, newest first",
  query: campaignQuery,
  list: (user, query) =>
    listPage(user, {
      table: campaigns,
      keys: newestFirst(campaigns),
      filters: [
        query.status ? eq(campaigns.status, query.status) : undefined,
        query.channel ? eq(campaigns.channel, query.channel) : undefined,
      ],
      limit: query.limit,
      cursor: query.cursor,
    }),
};

const alertQuery = z.object({
  ...pageQuery(50),
  read: booleanQuery.optional(),
  severity: z.enum(alertSeverities).optional(),
});
export const alertsResource: Resource<typeof alertQuery> = {
  name: "alerts",
  table: alerts,
  summary: "The caller's alerts, newest first",
  query: alertQuery,
  list: (user, query) =>
    listPage(user, {
      table: alerts,
      keys: newestFirst(alerts),
      filters: [
        query.read !== undefined ? eq(alerts.read, query.read) : undefined,
        query.severity ? eq(alerts.severity, query.severity) : undefined,
      ],
      limit: query.limit,
      cursor: query.cursor,
    }),
};

export const resources = [tasksResource, leadsResource, insightsResource, campaignsResource, alertsResource];
