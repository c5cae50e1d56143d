// GET /openapi.json – the OpenAPI 3.1 document, generated from the request schemas
import { getConfig } from "../lib/config";
import { json, route } from "../lib/http/handler";
import { buildOpenApiDocument } from "../lib/openapi";

let document: ReturnType<typeof buildOpenApiDocument> | undefined;

export const { GET, POST, PUT, PATCH, DELETE, OPTIONS } = route("/openapi.json", {
  GET: async () => {
    document ??= buildOpenApiDocument(getConfig().APP_URL);
    return json(await document, 200, { "cache-control": "public, max-age=300" });
  },
});
