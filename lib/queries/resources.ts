import { arrayContains, eq, gte, type SQL } from "drizzle-orm";
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
import { resolveWorkspace } from "../workspaces/access";
import { booleanQuery, listPage, type Page, pageQuery, type SortKey } from "./list";

type OwnedTable = PgTable & { workspace_id: PgColumn; user_id: PgColumn; created_at: PgColumn; id: PgColumn };
type PageParams = { limit: number; cursor?: string | undefined; workspace_id?: string | undefined };

/** Every list takes a workspace filter: only that workspace's rows (the caller must be a member). */
const workspaceQuery = {
  workspace_id: z
    .uuid()
    .optional()
    .meta({ description: "Only this workspace's rows (you must be a member); default: all of yours" }),
};

/**
 * The five read endpoints kept from the prototype (`GET /api/{resource}/{user_id}`): their query
 * schemas (which also document them in OpenAPI), the table their rows come from, and sort orders.
 */
export interface Resource<Q extends z.ZodObject = z.ZodObject> {
  name: string;
  summary: string;
  /** The OpenAPI component name of a row. */
  rowId: string;
  table: PgTable;
  query: Q;
  list(user: SessionUser, query: z.output<Q>): Promise<Page<Record<string, unknown>>>;
}

interface ResourceSpec<Q extends z.ZodObject> extends Omit<Resource<Q>, "list" | "table"> {
  table: OwnedTable;
  /** Sort keys before the id tie-break; newest first when absent. */
  keys?: SortKey[];
  filters(query: z.output<Q>, user: SessionUser): (SQL | undefined)[];
}

function defineResource<Q extends z.ZodObject>(spec: ResourceSpec<Q>): Resource<Q> {
  const keys: SortKey[] = [
    ...(spec.keys ?? []),
    { column: spec.table.created_at, cast: "timestamptz" },
    { column: spec.table.id, cast: "uuid" },
  ];
  return {
    name: spec.name,
    summary: spec.summary,
    rowId: spec.rowId,
    table: spec.table,
    query: spec.query,
    list: async (user, query) => {
      const { limit, cursor, workspace_id } = query as PageParams;
      // Naming a workspace one is not in is a 403, never an empty page.
      const workspaceId = workspace_id ? (await resolveWorkspace(user.id, workspace_id)).id : undefined;
      return listPage(user, {
        table: spec.table,
        workspaceId,
        keys,
        filters: spec.filters(query, user),
        limit,
        cursor,
      });
    },
  };
}

export const tasksResource = defineResource({
  name: "tasks",
  summary: "Agent tasks of the caller's workspaces, newest first",
  rowId: "AgentTask",
  table: agentTasks,
  query: z.object({
    ...pageQuery(20),
    ...workspaceQuery,
    status: z.enum(taskStatuses).optional(),
    agent: z.enum(agentNames).optional(),
  }),
  filters: (query) => [
    query.status ? eq(agentTasks.status, query.status) : undefined,
    query.agent ? eq(agentTasks.agent_name, query.agent) : undefined,
  ],
});

export const leadsResource = defineResource({
  name: "leads",
  summary: "Leads of the caller's workspaces, highest score first",
  rowId: "Lead",
  table: leads,
  query: z.object({
    ...pageQuery(50),
    ...workspaceQuery,
    status: z.enum(leadStatuses).optional(),
    min_score: z.coerce.number().int().min(0).max(100).optional(),
  }),
  keys: [{ column: leads.score, cast: "integer" }],
  filters: (query) => [
    query.status ? eq(leads.status, query.status) : undefined,
    query.min_score !== undefined ? gte(leads.score, query.min_score) : undefined,
  ],
});

export const insightsResource = defineResource({
  name: "insights",
  summary: "Product insights of the caller's workspaces, newest first",
  rowId: "ProductInsight",
  table: productInsights,
  query: z.object({
    ...pageQuery(20),
    ...workspaceQuery,
    priority: z.enum(insightPriorities).optional(),
    tag: z.string().min(1).max(64).optional(),
  }),
  filters: (query) => [
    query.priority ? eq(productInsights.priority, query.priority) : undefined,
    query.tag ? arrayContains(productInsights.tags, [query.tag]) : undefined,
  ],
});

export const campaignsResource = defineResource({
  name: "campaigns",
  summary: "Campaigns of the caller's workspaces, newest first",
  rowId: "Campaign",
  table: campaigns,
  query: z.object({
    ...pageQuery(20),
    ...workspaceQuery,
    status: z.enum(campaignStatuses).optional(),
    channel: z
      .string()
      .regex(/^[a-z][a-z0-9_-]{0,31}$/)
      .optional(),
  }),
  filters: (query) => [
    query.status ? eq(campaigns.status, query.status) : undefined,
    query.channel ? eq(campaigns.channel, query.channel) : undefined,
  ],
});

export const alertsResource = defineResource({
  name: "alerts",
  summary: "The caller's own alerts, in every workspace they are in, newest first",
  rowId: "Alert",
  table: alerts,
  query: z.object({
    ...pageQuery(50),
    ...workspaceQuery,
    read: booleanQuery.optional(),
    severity: z.enum(alertSeverities).optional(),
  }),
  // Alerts are addressed to one member: each sees their own, in every workspace they are in.
  filters: (query, user) => [
    eq(alerts.user_id, user.id),
    query.read !== undefined ? eq(alerts.read, query.read) : undefined,
    query.severity ? eq(alerts.severity, query.severity) : undefined,
  ],
});

// Each resource's `list` takes its own query type; the list is only iterated for routing and docs.
export const resources: Resource[] = [
  tasksResource,
  leadsResource,
  insightsResource,
  campaignsResource,
  alertsResource,
] as unknown as Resource[];
