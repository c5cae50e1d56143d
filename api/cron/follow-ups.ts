// POST /api/cron/follow-ups – hourly QStash schedule: writes and queues due campaign follow-ups in their threads, for leads that have not replied; then gives approved emails waiting for a slot the ones that freed up
import { runFollowUps } from "../../lib/email/follow-ups";
import { planApproved } from "../../lib/email/queueing";
import { json, route } from "../../lib/http/handler";
import { withQStash } from "../../lib/queue";

export const { GET, POST, PUT, PATCH, DELETE, OPTIONS } = route("/api/cron/follow-ups", {
  POST: withQStash(async (ctx) =>
    json({
      success: true,
      data: { ...(await runFollowUps(ctx.log)), planning: await planApproved(ctx.log) },
    }),
  ),
});
