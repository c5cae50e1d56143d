// POST /api/cron/calendar-watch – hourly QStash schedule: replaces the Calendar push channel before it expires, queues a reconcile sync, schedules missing meeting reminders
import { runCalendarWatch } from "../../lib/booking/channels";
import { json, route } from "../../lib/http/handler";
import { withQStash } from "../../lib/queue";

export const { GET, POST, PUT, PATCH, DELETE, OPTIONS } = route("/api/cron/calendar-watch", {
  POST: withQStash(async () => json({ success: true, data: await runCalendarWatch() })),
});
