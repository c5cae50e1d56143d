// GET /docs – the API reference (Scalar, served locally), and /docs/standalone.js, its script
import { docsAsset, docsPage } from "../lib/docs";
import { route } from "../lib/http/handler";

export const { GET, POST, PUT, PATCH, DELETE, OPTIONS } = route("/docs/:asset?", {
  GET: async (ctx) => (ctx.params.asset ? docsAsset(ctx.params.asset) : docsPage()),
});
