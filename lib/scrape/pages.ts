import { and, eq, gt, inArray } from "drizzle-orm";
import { scrapes } from "../db/schema";
import { serviceDb } from "../db/service";
import { wellFormedJson } from "../untrusted";
import type { PageContacts } from "./contacts";
import type { PageReport } from "./report";
import { normalizeUrl, siteOf } from "./url";

export type ScrapeRow = typeof scrapes.$inferSelect;

/** A page stored within its TTL, whatever became of it: it is not fetched again until it expires. */
export async function cachedPage(urlKey: string): Promise<ScrapeRow | undefined> {
  const db = await serviceDb();
  const [row] = await db
    .select()
    .from(scrapes)
    .where(
      and(
        eq(scrapes.url_key, urlKey),
        inArray(scrapes.status, ["completed", "failed", "skipped"]),
        gt(scrapes.expires_at, new Date().toISOString()),
      ),
    );
  return row;
}

export async function pagesByKey(urlKeys: string[]): Promise<ScrapeRow[]> {
  if (urlKeys.length === 0) {
    return [];
  }
  const db = await serviceDb();
  return db.select().from(scrapes).where(inArray(scrapes.url_key, urlKeys));
}

export interface StoredPage {
  url: string;
  taskId: string;
  status: "completed" | "failed" | "skipped";
  httpStatus?: number | null;
  finalUrl?: string | null;
  title?: string | null;
  markdown?: string | null;
  links?: { url: string; text: string }[];
  jsonLd?: unknown[];
  contacts?: PageContacts | Record<string, never>;
  bytes?: number | null;
  error?: string | null;
  timings?: Record<string, number>;
  ttlSeconds: number;
}

/** One row per normalised URL: a fresh fetch replaces what an earlier one stored. */
export async function savePage(page: StoredPage): Promise<ScrapeRow> {
  const db = await serviceDb();
  const now = Date.now();
  const values = {
    url: page.url,
    url_key: normalizeUrl(page.url),
    domain: siteOf(page.url),
    task_id: page.taskId,
    status: page.status,
    http_status: page.httpStatus ?? null,
    final_url: page.finalUrl ?? null,
    title: page.title?.toWellFormed() ?? null,
    content_markdown: page.markdown?.toWellFormed() ?? null,
    // What a page sends may hold lone surrogates, which jsonb refuses: stored well formed.
    links: wellFormedJson(page.links ?? []) as { url: string; text: string }[],
    json_ld: wellFormedJson(page.jsonLd ?? []) as unknown[],
    contacts: wellFormedJson(page.contacts ?? {}) as Record<string, unknown>,
    content_bytes: page.bytes ?? null,
    error: page.error?.slice(0, 1000) ?? null,
    timings: page.timings ?? {},
    fetched_at: new Date(now).toISOString(),
    expires_at: new Date(now + page.ttlSeconds * 1000).toISOString(),
  };
  const [row] = await db
    .insert(scrapes)
    .values(values)
    .onConflictDoUpdate({ target: scrapes.url_key, set: values })
    .returning();
  if (!row) {
    throw new Error(`could not store ${page.url}`);
  }
  return row;
}

/** What the report says of a page, from its stored row (fetched now or from the cache). */
export function pageReport(url: string, row: ScrapeRow, cached: boolean): PageReport {
  return {
    url,
    url_key: row.url_key,
    status: row.status as PageReport["status"],
    http_status: row.http_status,
    reason: row.error,
    cached,
  };
}
