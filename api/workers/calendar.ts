// POST /api/workers/calendar – syncs the business calendar (after a push, or the hourly reconcile) and raises meeting reminders; delivered and signed by QStash
import { runCalendarJob } from "../../lib/booking/worker";
import { route } from "../../lib/http/handler";
import { withQStash } from "../../lib/queue";

export const { GET, POST, PUT, PATCH, DELETE, OPTIONS } = route("/api/workers/calendar", {
  POST: withQStash(runCalendarJob),
});
