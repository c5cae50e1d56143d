// GET /api/health – database, Redis and queue configuration; 200 when all are up, 503 naming what is down
import { checkHealth, healthAnswer } from "../lib/health";
import { ApiError } from "../lib/http/errors";
import { route } from "../lib/http/handler";
import { reply } from "../lib/http/responses";

export const { GET, POST, PUT, PATCH, DELETE, OPTIONS } = route("/api/health", {
  GET: async () => {
    const health = await checkHealth();
    if (!health.healthy) {
      throw new ApiError("service_unavailable", `Unavailable: ${health.down.join(", ")}`, {
        details: health.checks,
        headers: { "retry-after": "10", "cache-control": "no-store" },
      });
    }
    return reply(healthAnswer, { success: true, data: { status: "ok", checks: health.checks } }, 200, {
      "cache-control": "no-store",
    });
  },
});
