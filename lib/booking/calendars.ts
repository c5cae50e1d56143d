/**
 * Calendar state, per connection: the one writer of `calendars`. Each connected Google account's
 * calendar (its primary one, or GOOGLE_CALENDAR_ID for the environment's account) belongs to the
 * connection's workspace: bookings go into it, its push channel and sync token live here, and its
 * events are matched only against that workspace's leads.
 */
import type { calendar_v3 } from "@googleapis/calendar";
import { and, eq, ne, sql } from "drizzle-orm";
import { getConfig } from "../config";
import { calendars } from "../db/schema";
import { serviceDb } from "../db/service";
import { type Connection, connectionById, connectionsOf, withGoogle } from "../google/connections";

export type CalendarRow = typeof calendars.$inferSelect;

export interface ConnectedCalendar {
  row: CalendarRow;
  connection: Connection;
}

/** The calendar row of a connection (made on first use, reactivated on reconnect). */
export async function calendarOfConnection(connection: Connection): Promise<CalendarRow> {
  const googleId = connection.kind === "environment" ? getConfig().GOOGLE_CALENDAR_ID : "primary";
  const db = await serviceDb();
  await db.execute(sql`
    insert into ${calendars} (workspace_id, connection_id, google_calendar_id)
    values (${connection.workspace_id}, ${connection.id}, ${googleId})
    on conflict (connection_id, google_calendar_id) do update set status = 'active'
    where ${calendars.status} <> 'active'`);
  const [row] = await db
    .select()
    .from(calendars)
    .where(and(eq(calendars.connection_id, connection.id), eq(calendars.google_calendar_id, googleId)));
  if (!row) {
    throw new Error(`calendar of connection ${connection.id} vanished`);
  }
  return row;
}

/** The calendar bookings of a workspace go into: its first connected account's, if any. */
export async function workspaceCalendar(workspaceId: string): Promise<ConnectedCalendar | undefined> {
  const [connection] = await connectionsOf(workspaceId);
  return connection ? { row: await calendarOfConnection(connection), connection } : undefined;
}

/** A calendar by our id, with its connection, while both are live. */
export async function connectedCalendar(calendarId: string): Promise<ConnectedCalendar | undefined> {
  const db = await serviceDb();
  const [row] = await db
    .select()
    .from(calendars)
    .where(and(eq(calendars.id, calendarId), ne(calendars.status, "disconnected")));
  const connection = row?.connection_id ? await connectionById(row.connection_id) : undefined;
  return row && connection && connection.status !== "disconnected" ? { row, connection } : undefined;
}

/** One use of the calendar's Calendar API (Google's client is loaded only here, on first use). */
export async function withCalendar<T>(
  calendar: ConnectedCalendar,
  use: (api: calendar_v3.Calendar, calendarId: string) => Promise<T>,
): Promise<T> {
  const { calendarApi } = await import("../google/calendar");
  return withGoogle(calendar.connection, (auth) => use(calendarApi(auth), calendar.row.google_calendar_id));
}

export async function updateCalendar(calendarId: string, values: Partial<CalendarRow>): Promise<void> {
  const db = await serviceDb();
  await db.update(calendars).set(values).where(eq(calendars.id, calendarId));
}

/** A disconnected account's calendars stop syncing (their meetings stay, marked as they were). */
export async function detachCalendars(connectionId: string): Promise<CalendarRow[]> {
  const db = await serviceDb();
  return db
    .update(calendars)
    .set({ status: "disconnected", sync_token: null })
    .where(and(eq(calendars.connection_id, connectionId), ne(calendars.status, "disconnected")))
    .returning();
}
