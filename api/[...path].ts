// ANY /api/* with no function – the 404 envelope instead of the platform's page
import { ApiError } from "../lib/http/errors";
import { route } from "../lib/http/handler";

const notFound = async (ctx: { url: URL }): Promise<Response> => {
  throw new ApiError("not_found", `No route for ${ctx.url.pathname}`);
};

export const { GET, POST, PUT, PATCH, DELETE, OPTIONS } = route("/api/:path*", {
  GET: notFound,
  POST: notFound,
  PUT: notFound,
  PATCH: notFound,
  DELETE: notFound,
});
