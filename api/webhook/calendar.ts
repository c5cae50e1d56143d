// POST /webhook/calendar – Google Calendar push: channel token (HMAC) and ids verified, each message applied once, the calendar synced by the calendar worker
import { route } from "../../lib/http/handler";
import { handleCalendarPush } from "../../lib/webhooks/calendar-events";

export const { GET, POST, PUT, PATCH, DELETE, OPTIONS } = route("/webhook/calendar", {
  POST: handleCalendarPush,
});
