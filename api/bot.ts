// GET /bot – who our crawler is and how to keep it out (the URL its User-Agent names)
import { route } from "../lib/http/handler";
import { botPage } from "../lib/scrape/robots";

export const { GET, POST, PUT, PATCH, DELETE, OPTIONS } = route("/api/bot", {
  GET: async () =>
    new Response(botPage(), {
      headers: { "content-type": "text/markdown; charset=utf-8", "cache-control": "public, max-age=86400" },
    }),
});
