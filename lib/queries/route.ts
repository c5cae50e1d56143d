import type { z } from "zod";
import { requireSelf, withUser } from "../auth/session";
import { ApiError } from "../http/errors";
import { type FunctionExports, json, route } from "../http/handler";
import type { Page } from "./list";

interface ListResource<Q extends z.ZodObject> {
  name: string;
  query: Q;
  list(
    user: Parameters<Parameters<typeof withUser>[0]>[0]["user"],
    query: z.output<Q>,
  ): Promise<Page<unknown>>;
}

const uuidPattern = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** `GET /api/{resource}/{user_id}`: session required, own rows only, keyset-paginated. */
export function listRoute<Q extends z.ZodObject>(resource: ListResource<Q>): FunctionExports {
  return route(`/api/${resource.name}/:user_id`, {
    GET: withUser(async (ctx) => {
      const userId = ctx.params.user_id ?? "";
      if (!uuidPattern.test(userId)) {
        throw new ApiError("bad_request", "path.user_id: must be a UUID");
      }
      requireSelf(ctx.user, userId.toLowerCase());
      const page = await resource.list(ctx.user, ctx.query(resource.query));
      return json({ success: true, data: page.data, next_cursor: page.next_cursor });
    }),
  });
}
