import { and, eq, sql } from "drizzle-orm";
import { webhookEvents } from "../db/schema";
import { serviceDb } from "../db/service";
import { timestampMs } from "../db/timestamps";
import { ApiError, toApiError } from "../http/errors";

export interface InboundEvent {
  source: "task" | "scrape" | "email" | "calendar" | "qstash" | "database";
  eventId: string;
  eventType: string;
  payload: unknown;
  userId?: string | undefined;
}

/** An event being handled this long ago is taken to have died with its function. */
const staleAfterMs = 2 * 60_000;

/**
 * Runs `handle` at most once per (source, event id) to completion: every event is recorded first,
 * a duplicate of a processed event is acknowledged without effect, a concurrent duplicate gets 409
 * (so the sender retries it later), and a failed one is processed again when redelivered.
 */
export async function processOnce(
  event: InboundEvent,
  handle: () => Promise<"processed" | "ignored">,
): Promise<"processed" | "ignored" | "duplicate"> {
  const db = await serviceDb();
  const [claimed] = await db
    .insert(webhookEvents)
    .values({
      source: event.source,
      event_id: event.eventId,
      event_type: event.eventType,
      payload: event.payload ?? {},
      user_id: event.userId ?? null,
      status: "processing",
      attempts: 1,
    })
    .onConflictDoNothing({ target: [webhookEvents.source, webhookEvents.event_id] })
    .returning({ id: webhookEvents.id });

  let id = claimed?.id;
  if (!id) {
    const [existing] = await db
      .select()
      .from(webhookEvents)
      .where(and(eq(webhookEvents.source, event.source), eq(webhookEvents.event_id, event.eventId)));
    if (!existing || existing.status === "processed" || existing.status === "ignored") {
      return "duplicate";
    }
    const stale = Date.now() - timestampMs(existing.updated_at) > staleAfterMs;
    if (existing.status === "processing" && !stale) {
      throw new ApiError("conflict", "This event is being processed", { headers: { "retry-after": "5" } });
    }
    const [retaken] = await db
      .update(webhookEvents)
      .set({ status: "processing", attempts: sql`${webhookEvents.attempts} + 1`, error: null })
      .where(and(eq(webhookEvents.id, existing.id), eq(webhookEvents.updated_at, existing.updated_at)))
      .returning({ id: webhookEvents.id });
    if (!retaken) {
      throw new ApiError("conflict", "This event is being processed", { headers: { "retry-after": "5" } });
    }
    id = retaken.id;
  }

  try {
    const outcome = await handle();
    await db
      .update(webhookEvents)
      .set({ status: outcome, processed_at: sql`now()` })
      .where(eq(webhookEvents.id, id));
    return outcome;
  } catch (thrown) {
    const error = toApiError(thrown);
    await db
      .update(webhookEvents)
      .set({ status: "failed", error: error.message })
      .where(eq(webhookEvents.id, id));
    throw error;
  }
}
