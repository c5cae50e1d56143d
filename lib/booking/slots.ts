/**
 * Free meeting slots: candidate starts every `stepMinutes` inside the window, kept when the whole
 * meeting falls on a working day within working hours *in the given time zone* and overlaps no busy
 * interval. Local time is read with Intl for each candidate, so daylight-saving changes need no
 * arithmetic of our own.
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

const weekdays: Record<string, number> = { Mon: 1, Tue: 2, Wed: 3, Thu: 4, Fri: 5, Sat: 6, Sun: 7 };

/** Local weekday and minutes after midnight of an instant in a time zone. */
export function localTime(
  instant: number,
  timeZone: string,
): { weekday: number; minutes: number; date: string } {
  const parts = Object.fromEntries(
    new Intl.DateTimeFormat("en-GB", {
      timeZone,
      weekday: "short",
      hour: "2-digit",
      minute: "2-digit",
      year: "numeric",
      month: "2-digit",
      day: "2-digit",
      hourCycle: "h23",
    })
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

export interface SlotRequest {
  from: number;
  to: number;
  durationMinutes: number;
  timeZone: string;
  hours: WorkingHours;
  busy: { start: number; end: number }[];
  count: number;
  stepMinutes?: number;
}

export function withinWorkingHours(
  start: number,
  durationMinutes: number,
  timeZone: string,
  hours: WorkingHours,
) {
  const begin = localTime(start, timeZone);
  const finish = localTime(start + durationMinutes * 60_000, timeZone);
  return (
    hours.days.includes(begin.weekday) &&
    begin.date === finish.date &&
    begin.minutes >= hours.start &&
    finish.minutes <= hours.end
  );
}

export function freeSlots(request: SlotRequest): { start: string; end: string }[] {
  const step = (request.stepMinutes ?? 30) * 60_000;
  const duration = request.durationMinutes * 60_000;
  const slots: { start: string; end: string }[] = [];
  for (let start = Math.ceil(request.from / step) * step; start + duration <= request.to; start += step) {
    if (!withinWorkingHours(start, request.durationMinutes, request.timeZone, request.hours)) {
      continue;
    }
    if (request.busy.some((busy) => busy.start < start + duration && busy.end > start)) {
      continue;
    }
    slots.push({ start: new Date(start).toISOString(), end: new Date(start + duration).toISOString() });
    if (slots.length >= request.count) {
      break;
    }
  }
  return slots;
}
