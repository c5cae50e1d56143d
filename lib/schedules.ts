import { appUrl, getQueue } from "./queue";

/**
 * The QStash schedules the backend runs on. Each has a fixed id, so registering again replaces the
 * schedule instead of adding a second one: `npm run schedules` against production, the dev server
 * at start.
 */
export const schedules = [
  {
    id: "scrape-maintenance",
    path: "/api/cron/scrape-maintenance",
    cron: "17 * * * *",
    purpose:
      "expire old scrape cache rows and backoffs; finish lead-generation tasks whose sites never reported",
  },
  {
    id: "follow-ups",
    path: "/api/cron/follow-ups",
    cron: "5 * * * *",
    purpose:
      "write and queue due campaign follow-ups for leads that have not replied; give approved emails waiting for a slot the ones that freed up",
  },
  {
    id: "gmail-watch",
    path: "/api/cron/gmail-watch",
    cron: "41 4 * * *",
    purpose: "renew Gmail's push watch for the sending mailbox (it lapses after 7 days)",
  },
  {
    id: "calendar-watch",
    path: "/api/cron/calendar-watch",
    cron: "29 * * * *",
    purpose:
      "replace the Calendar push channel before it expires, and reconcile the calendar in case a notification was missed",
  },
] as const;

export async function registerSchedules(): Promise<string[]> {
  const ids: string[] = [];
  for (const schedule of schedules) {
    const { scheduleId } = await getQueue().schedules.create({
      scheduleId: schedule.id,
      destination: appUrl(schedule.path),
      cron: schedule.cron,
      retries: 2,
    });
    ids.push(scheduleId);
  }
  return ids;
}
