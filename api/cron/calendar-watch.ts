// POST /api/cron/calendar-watch – hourly QStash schedule: keeps a push channel on every connected calendar (replaced before it expires), queues a reconcile sync of each, schedules missing meeting reminders
import { runCalendarWatch } from "../../lib/booking/channels";
import { json, route } from "../../lib/http/handler";
import { withQStash } from "../../lib/queue";

export const { GET, POST, PUT, PATCH, DELETE, OPTIONS } = route("/api/cron/calendar-watch", {
  POST: withQStash(async (ctx) => json({ success: true, data: await runCalendarWatch(ctx.log) })),
});
