/**
 * Local time in an IANA zone, read with Intl (so daylight saving needs no arithmetic of our own), and
 * weekly hours such as "09:00-17:00" on "1-5": shared by booking's working hours and email's sending
 * windows.
 */
export interface WorkingHours {
  /** Minutes after local midnight. */
  start: number;
  end: number;
  /** ISO weekdays, 1 = Monday … 7 = Sunday. */
  days: number[];
}

export function parseWorkingHours(hours: string, days: string): WorkingHours {
  const [from, to] = hours.split("-").map((part) => {
    const [h, m] = part.split(":").map(Number);
    return (h ?? 0) * 60 + (m ?? 0);
  });
  const dayList = days.split(",").flatMap((part) => {
    const [a, b] = part.split("-").map(Number);
    return b === undefined ? [a ?? 0] : Array.from({ length: b - (a ?? 0) + 1 }, (_, i) => (a ?? 0) + i);
  });
  return { start: from ?? 540, end: to ?? 1020, days: dayList };
}

// A formatter per zone: making one costs far more than formatting with it, and planning a batch of
// emails reads local time thousands of times.
const formatters = new Map<string, Intl.DateTimeFormat>();
function formatterOf(timeZone: string): Intl.DateTimeFormat {
  let formatter = formatters.get(timeZone);
  if (!formatter) {
    formatter = new Intl.DateTimeFormat("en-GB", {
      timeZone,
      weekday: "short",
      hour: "2-digit",
      minute: "2-digit",
      year: "numeric",
      month: "2-digit",
      day: "2-digit",
      hourCycle: "h23",
    });
    formatters.set(timeZone, formatter);
  }
  return formatter;
}

const weekdays: Record<string, number> = { Mon: 1, Tue: 2, Wed: 3, Thu: 4, Fri: 5, Sat: 6, Sun: 7 };

/** Local weekday and minutes after midnight of an instant in a time zone. */
export function localTime(
  instant: number,
  timeZone: string,
): { weekday: number; minutes: number; date: string } {
  const parts = Object.fromEntries(
    formatterOf(timeZone)
      .formatToParts(new Date(instant))
      .map((part) => [part.type, part.value]),
  );
  return {
    weekday: weekdays[parts.weekday ?? "Mon"] ?? 1,
    minutes: Number(parts.hour) * 60 + Number(parts.minute),
    date: `${parts.year}-${parts.month}-${parts.day}`,
  };
}

export function isValidTimeZone(timeZone: string): boolean {
  try {
    new Intl.DateTimeFormat("en-GB", { timeZone });
    return true;
  } catch {
    return false;
  }
}
