// GET /api/health – database, Redis and queue configuration; 200 when all are up, 503 naming what is down
import { checkHealth } from "../lib/health";
import { ApiError } from "../lib/http/errors";
import { ok, route } from "../lib/http/handler";

export const { GET, POST, PUT, PATCH, DELETE, OPTIONS } = route("/api/health", {
  GET: async () => {
    const health = await checkHealth();
    if (!health.healthy) {
      throw new ApiError("service_unavailable", `Unavailable: ${health.down.join(", ")}`, {
        details: health.checks,
        headers: { "retry-after": "10", "cache-control": "no-store" },
      });
    }
    const response = ok({ status: "ok", checks: health.checks });
    response.headers.set("cache-control", "no-store");
    return response;
  },
});
