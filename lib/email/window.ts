/**
 * Sending windows: an email arrives on the workspace's sending days and hours *in its lead's local
 * time*, and not on a public holiday of the lead's country (when the workspace skips them). Local
 * time is read with Intl for each instant, so a daylight-saving change moves the window with the
 * lead's clock instead of drifting an hour twice a year.
 */
import { localTime, parseWorkingHours, type WorkingHours } from "../local-time";

export interface LeadWindow {
  timeZone: string;
  hours: WorkingHours;
  /** Whether a local date (YYYY-MM-DD) is a public holiday where the lead is. */
  isHoliday?: (localDate: string) => boolean;
  /** Names the zone, hours and holidays: leads with equal keys share every opening. */
  key: string;
}

export interface WorkspaceWindow {
  sending_hours: string;
  sending_days: string;
  skip_holidays: boolean;
}

const minute = 60_000;

/**
 * The earliest instant ≥ `at` inside the lead's window (`at` itself when it is inside). Steps day by
 * day in local time: a window opens at most a few weeks on (holidays), so the loop is short; an
 * empty window (no day) never opens and gives Infinity.
 */
export function nextOpening(at: number, window: LeadWindow): number {
  const { start, end, days } = window.hours;
  if (days.length === 0 || end <= start) {
    return Number.POSITIVE_INFINITY;
  }
  let t = at;
  for (let step = 0; step < 400; step++) {
    const local = localTime(t, window.timeZone);
    const open = days.includes(local.weekday) && !window.isHoliday?.(local.date);
    if (open && local.minutes >= start && local.minutes < end) {
      return t;
    }
    const base = Math.floor(t / minute) * minute;
    if (open && local.minutes < start) {
      let target = base + (start - local.minutes) * minute;
      // A clock change between now and the opening shifts it by the change: read the clock again.
      const landed = localTime(target, window.timeZone);
      if (landed.date === local.date && landed.minutes !== start) {
        target += (start - landed.minutes) * minute;
      }
      t = Math.max(target, t + minute);
      continue;
    }
    // After hours, or a closed day: the next local midnight (a 23- or 25-hour day is read again).
    t = base + (1440 - local.minutes) * minute;
  }
  return Number.POSITIVE_INFINITY;
}

export function isInWindow(at: number, window: LeadWindow): boolean {
  return nextOpening(at, window) === at;
}

type HolidayModule = typeof import("date-holidays");
let holidays: Promise<HolidayModule> | undefined;
const holidayYears = new Map<string, Set<string>>();

/**
 * The public holidays of a country (date-holidays, loaded on first use), as a check by local date.
 * A country it does not know has none.
 */
function holidayCheck(country: string): Promise<(localDate: string) => boolean> {
  let check = checks.get(country);
  if (!check) {
    check = makeHolidayCheck(country);
    checks.set(country, check);
  }
  return check;
}
const checks = new Map<string, Promise<(localDate: string) => boolean>>();

async function makeHolidayCheck(country: string): Promise<(localDate: string) => boolean> {
  holidays ??= import("date-holidays");
  const { default: Holidays } = await holidays;
  const calendar = new Holidays();
  const known = country in calendar.getCountries();
  if (known) {
    calendar.init(country, { types: ["public"] });
  }
  return (localDate) => {
    if (!known) {
      return false;
    }
    const year = localDate.slice(0, 4);
    const key = `${country}:${year}`;
    let dates = holidayYears.get(key);
    if (!dates) {
      dates = new Set(
        (calendar.getHolidays(Number(year)) || [])
          .filter((holiday) => holiday.type === "public")
          .map((holiday) => holiday.date.slice(0, 10)),
      );
      holidayYears.set(key, dates);
    }
    return dates.has(localDate);
  };
}

/** Names a lead's window: leads with the same key have the same openings. */
export function windowKey(
  workspace: WorkspaceWindow,
  zone: { timeZone: string; country: string | null },
): string {
  const country = workspace.skip_holidays ? zone.country : null;
  return `${zone.timeZone}|${workspace.sending_hours}|${workspace.sending_days}|${country ?? ""}`;
}

/** A lead's window from the workspace's settings and the lead's zone and country. */
export async function leadWindow(
  workspace: WorkspaceWindow,
  zone: { timeZone: string; country: string | null },
): Promise<LeadWindow> {
  const hours = parseWorkingHours(workspace.sending_hours, workspace.sending_days);
  const country = workspace.skip_holidays ? zone.country : null;
  return {
    timeZone: zone.timeZone,
    hours,
    ...(country ? { isHoliday: await holidayCheck(country) } : {}),
    key: windowKey(workspace, zone),
  };
}
