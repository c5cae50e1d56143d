import { type SQL, type SQLWrapper, sql } from "drizzle-orm";
import { type Database, rowsOf } from "../db/client";
import { serviceDb } from "../db/service";
import { ApiError, toApiError } from "../http/errors";

export interface InboundEvent {
  source: "task" | "scrape" | "email" | "calendar" | "qstash" | "database";
  eventId: string;
  eventType: string;
  payload: unknown;
  userId?: string | undefined;
}

type Outcome = "processed" | "ignored";

/** An event being handled this long ago is taken to have died with its function. */
const staleAfterMs = 2 * 60_000;
const staleAfter = sql.raw(`interval '${staleAfterMs} milliseconds'`);

const beingProcessed = () =>
  new ApiError("conflict", "This event is being processed", { headers: { "retry-after": "5" } });

/**
 * Records the event and claims it, in one statement: a new event is inserted as processing; a
 * failed (or never started, or stale processing) one is taken over, with its attempts counted. The
 * row lock `on conflict do update` takes decides races between concurrent deliveries: at most one
 * of them claims. Beside the claim comes the row's status as this statement's snapshot saw it, so
 * an unclaimed event is told apart without another statement. (Scalar subqueries rather than a
 * union: cheaper to plan, and planning is much of this statement's cost on PGlite.)
 */
function claimStatement(event: InboundEvent): SQL {
  return sql`with claimed as (
    insert into public.webhook_events as e (source, event_id, event_type, payload, user_id, status, attempts)
    values (${event.source}, ${event.eventId}, ${event.eventType}, ${JSON.stringify(event.payload ?? {})}::jsonb,
      ${event.userId ?? null}::uuid, 'processing', 1)
    on conflict (source, event_id) do update
      set status = 'processing', attempts = e.attempts + 1, error = null
      where e.status in ('received', 'failed')
        or (e.status = 'processing' and e.updated_at < now() - ${staleAfter})
    returning e.id
  )
  select (select id from claimed) as claimed_id,
    (select status from public.webhook_events where source = ${event.source} and event_id = ${event.eventId})
      as status`;
}

/**
 * The event's id once claimed, or "duplicate" for one already handled. A row that is neither
 * claimed nor handled is being processed by another delivery (or was inserted or taken over by one
 * after this statement's snapshot, so the status it shows is not the row's latest): 409 with
 * Retry-After, for the sender to come back to.
 */
async function claim(db: Database, event: InboundEvent): Promise<string | "duplicate"> {
  const [row] = rowsOf<{ claimed_id: string | null; status: string | null }>(
    await db.execute(claimStatement(event)),
  );
  if (row?.claimed_id) {
    return row.claimed_id;
  }
  if (row?.status === "processed" || row?.status === "ignored") {
    return "duplicate";
  }
  throw beingProcessed();
}

async function recordFailure(db: Database, id: string, thrown: unknown): Promise<ApiError> {
  const error = toApiError(thrown);
  await db.execute(
    sql`update public.webhook_events set status = 'failed', error = ${error.message} where id = ${id}`,
  );
  return error;
}

/**
 * Runs `handle` at most once per (source, event id) to completion: every event is recorded first,
 * a duplicate of a processed event is acknowledged without effect, a concurrent duplicate gets 409
 * (so the sender retries it later), and a failed one is processed again when redelivered.
 */
export async function processOnce(
  event: InboundEvent,
  handle: () => Promise<Outcome>,
): Promise<Outcome | "duplicate"> {
  const db = await serviceDb();
  const id = await claim(db, event);
  if (id === "duplicate") {
    return id;
  }
  let outcome: Outcome;
  try {
    outcome = await handle();
  } catch (thrown) {
    throw await recordFailure(db, id, thrown);
  }
  await db.execute(
    sql`update public.webhook_events set status = ${outcome}, processed_at = now() where id = ${id}`,
  );
  return outcome;
}

/**
 * `processOnce` for an event whose whole effect is one data-modifying statement (`effect`, returning
 * a row when it changed something): applied and recorded in the same statement, so the event costs
 * two statements in all and its effect never lands without its record. An effect that changed
 * nothing records the event as ignored.
 */
export async function applyOnce(event: InboundEvent, effect: SQLWrapper): Promise<Outcome | "duplicate"> {
  const db = await serviceDb();
  const id = await claim(db, event);
  if (id === "duplicate") {
    return id;
  }
  let recorded: { status: Outcome } | undefined;
  try {
    [recorded] = rowsOf<{ status: Outcome }>(
      await db.execute(sql`with applied as (${effect})
        update public.webhook_events
        set status = coalesce((select 'processed' from applied limit 1), 'ignored'), processed_at = now()
        where id = ${id}
        returning status`),
    );
  } catch (thrown) {
    throw await recordFailure(db, id, thrown);
  }
  if (!recorded) {
    throw new Error(`webhook event ${id} vanished`);
  }
  return recorded.status;
}
