import { calendar, type calendar_v3 } from "@googleapis/calendar";
import { getConfig } from "../config";
import { googleAuth, googleRootUrl } from "./auth";

/** The business's calendar (`GOOGLE_CALENDAR_ID`, default its primary), or null without credentials. */
export interface BusinessCalendar {
  id: string;
  api: calendar_v3.Calendar;
}

let cached: BusinessCalendar | null | undefined;

export function businessCalendar(): BusinessCalendar | null {
  if (cached !== undefined) {
    return cached;
  }
  const auth = googleAuth();
  const rootUrl = googleRootUrl();
  cached = auth
    ? {
        id: getConfig().GOOGLE_CALENDAR_ID,
        api: calendar({ version: "v3", auth, ...(rootUrl ? { rootUrl } : {}), retry: false }),
      }
    : null;
  return cached;
}

/** Busy intervals of the calendar between two instants (Calendar `freebusy`). */
export async function busyBetween(
  cal: BusinessCalendar,
  from: Date,
  to: Date,
): Promise<{ start: number; end: number }[]> {
  const { data } = await cal.api.freebusy.query({
    requestBody: { timeMin: from.toISOString(), timeMax: to.toISOString(), items: [{ id: cal.id }] },
  });
  return (data.calendars?.[cal.id]?.busy ?? []).map((slot) => ({
    start: Date.parse(slot.start ?? ""),
    end: Date.parse(slot.end ?? ""),
  }));
}
