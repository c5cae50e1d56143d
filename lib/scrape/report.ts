import { z } from "zod";
import { okEnvelope } from "../http/responses";

/**
 * What the scrape worker (`POST /api/workers/scrape`) answers, which QStash hands back to
 * /webhook/scrape inside its callback: declared once, typed into the crawler and the worker, parsed
 * by the webhook, and published in the OpenAPI document. Fields the webhook does not read have
 * defaults so that an answer from a worker one deploy older still parses.
 */
export const pageReport = z.object({
  url: z.string(),
  url_key: z.string(),
  status: z.enum(["completed", "failed", "skipped"]),
  http_status: z.number().nullable().default(null),
  reason: z.string().nullable(),
  cached: z.boolean().default(false),
});

const refusal = z.object({ url: z.string(), reason: z.string() });

export const siteReport = z.object({
  outcome: z.literal("done"),
  site: z.string(),
  status: z.enum(["completed", "failed"]),
  reason: z.string().nullable(),
  pages: z.array(pageReport),
  blocked: z.array(refusal).meta({ description: "Requests the guard refused (address, scheme, port)" }),
  refused: z
    .array(refusal)
    .default([])
    .meta({ description: "Requests page scripts made that the crawler would not make (at most 50 listed)" }),
  refused_counts: z
    .record(z.string(), z.number())
    .default({})
    .meta({ description: "All of them, by reason" }),
  visits: z
    .array(z.object({ url: z.string(), started_at: z.number(), ended_at: z.number() }))
    .default([])
    .meta({ description: "When each page fetch held the domain: the politeness log" }),
  crawl_delay_seconds: z.number().nullable().default(null),
});

/** The domain was backed off or busy: the job was published again for later. */
export const deferral = z.object({
  outcome: z.literal("deferred"),
  site: z.string(),
  until: z.string(),
  reason: z.string(),
});

export const scrapeWorkerAnswer = okEnvelope(
  z.discriminatedUnion("outcome", [siteReport, deferral, z.object({ outcome: z.literal("invalid_job") })]),
).meta({ id: "ScrapeWorkerAnswer" });

export type PageReport = z.output<typeof pageReport>;
export type SiteReport = z.output<typeof siteReport>;
export type Deferral = z.output<typeof deferral>;
