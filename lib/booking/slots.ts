/**
 * Free meeting slots: candidate starts every `stepMinutes` inside the window, kept when the whole
 * meeting falls on a working day within working hours *in the given time zone* and overlaps no busy
 * interval. Local time is read with Intl for each candidate, so daylight-saving changes need no
 * arithmetic of our own.
 */
import { localTime, type WorkingHours } from "../local-time";

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
