import { z } from "zod";

/**
 * What `agent_tasks.metadata` holds, typed. The task store is its only writer; every key written is
 * one of these (agents add their own findings under `result`-like keys through `extra`).
 */
export const siteState = z.object({
  status: z.enum(["pending", "completed", "failed"]),
  start_urls: z.array(z.string()),
  /** Normalised URLs of the pages the report covers (fetched or from the cache). */
  pages: z.array(z.string()).optional(),
  reason: z.string().nullable().optional(),
  not_read: z.array(z.object({ url: z.string(), reason: z.string() })).optional(),
  blocked: z.number().optional(),
  /** Requests the site's page scripts made that the crawler refused, by reason. */
  refused: z.record(z.string(), z.number()).optional(),
  reported_at: z.string().optional(),
});
export type SiteState = z.infer<typeof siteState>;
export type SiteStates = Record<string, SiteState>;

export const contextTokens = z.object({
  format: z.string(),
  json_tokens: z.number(),
  compact_json_tokens: z.number(),
  toon_tokens: z.number(),
  savings_percent: z.number(),
});

export const taskMetadata = z
  .object({
    /**
     * Why the task failed, as an error code of the API or `invalid_input` (its input fails its
     * agent's schema), and whether a retry could help.
     */
    error_code: z.string().optional(),
    retryable: z.boolean().optional(),
    /** The QStash message whose delivery runs the task (a redelivery of it may take over). */
    claimed_by: z.string().optional(),
    /** When the task passed admission (validation, rate limit, budget), and through which path. */
    admitted_at: z.string().optional(),
    admitted_by: z.enum(["api", "worker"]).optional(),
    cached: z.boolean().optional(),
    model_calls: z.number().optional(),
    context_tokens: contextTokens.optional(),
    /** Fan-out tasks: each site's state, and the progress shown to the user. */
    sites: z.record(z.string(), siteState).optional(),
    progress: z.number().min(0).max(100).optional(),
    progress_message: z.string().optional(),
  })
  // An agent's own facts about its run (a delegation, what it skipped…) are kept beside these.
  .catchall(z.unknown());
export type TaskMetadata = z.infer<typeof taskMetadata>;

export function sitesOf(metadata: unknown): SiteStates {
  const parsed = taskMetadata.safeParse(metadata ?? {});
  return parsed.success ? (parsed.data.sites ?? {}) : {};
}
