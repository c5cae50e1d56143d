import { z } from "zod";
import { requireSelf, withUser } from "../auth/session";
import { fromZodError } from "../http/errors";
import { type FunctionExports, json, route } from "../http/handler";
import type { Resource } from "./resources";

const pathParams = z.object({ user_id: z.uuid() });

/** `GET /api/{resource}/{user_id}`: session required, own rows only, keyset-paginated. */
export function listRoute<Q extends z.ZodObject>(resource: Resource<Q>): FunctionExports {
  return route(`/api/${resource.name}/:user_id`, {
    GET: withUser(async (ctx) => {
      const path = pathParams.safeParse(ctx.params);
      if (!path.success) {
        throw fromZodError(path.error, "path");
      }
      requireSelf(ctx.user, path.data.user_id.toLowerCase());
      const page = await resource.list(ctx.user, ctx.query(resource.query));
      return json({ success: true, data: page.data, next_cursor: page.next_cursor });
    }),
  });
}
