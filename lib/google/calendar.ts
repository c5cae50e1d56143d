import { calendar, type calendar_v3 } from "@googleapis/calendar";
import { type GoogleAuth, googleRootUrl } from "./connections";

/** A connection's authorised client as the Calendar API (loaded only by bookings and syncs). */
export function calendarApi(auth: GoogleAuth): calendar_v3.Calendar {
  const rootUrl = googleRootUrl();
  return calendar({ version: "v3", auth, ...(rootUrl ? { rootUrl } : {}), retry: false });
}

/** Busy intervals of a calendar between two instants (Calendar `freebusy`). */
export async function busyBetween(
  api: calendar_v3.Calendar,
  calendarId: string,
  from: Date,
  to: Date,
): Promise<{ start: number; end: number }[]> {
  const { data } = await api.freebusy.query({
    requestBody: { timeMin: from.toISOString(), timeMax: to.toISOString(), items: [{ id: calendarId }] },
  });
  return (data.calendars?.[calendarId]?.busy ?? []).map((slot) => ({
    start: Date.parse(slot.start ?? ""),
    end: Date.parse(slot.end ?? ""),
  }));
}
