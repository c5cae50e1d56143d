import { readFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { ApiError } from "./http/errors";

const require = createRequire(import.meta.url);

// Self-contained: no web fonts, telemetry, hosted proxy or AI agent from the vendor's servers.
const scalarConfiguration = JSON.stringify({
  withDefaultFonts: false,
  telemetry: false,
  showDeveloperTools: "never",
  agent: { disabled: true },
  defaultOpenAllTags: true,
  hideDownloadButton: false,
});

/** The API reference page: Scalar's standalone bundle, served by us (no CDN), reading /openapi.json. */
export function docsPage(): Response {
  const html = `<!doctype html>
<html lang="en">
  <head>
    <meta charset="utf-8" />
    <meta name="viewport" content="width=device-width, initial-scale=1" />
    <title>AI Agent Team API</title>
  </head>
  <body>
    <script id="api-reference" data-url="/openapi.json" data-configuration='${scalarConfiguration}'></script>
    <script src="/docs/standalone.js"></script>
  </body>
</html>`;
  return new Response(html, {
    headers: {
      "content-type": "text/html; charset=utf-8",
      "content-security-policy":
        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; font-src 'self' data:; connect-src 'self'",
      "cache-control": "public, max-age=300",
    },
  });
}

let bundle: Promise<Buffer> | undefined;

export async function docsAsset(name: string): Promise<Response> {
  if (name !== "standalone.js") {
    throw new ApiError("not_found", `No docs asset ${name}`);
  }
  bundle ??= readFile(require.resolve("@scalar/api-reference/browser/standalone.js"));
  return new Response(new Uint8Array(await bundle), {
    headers: { "content-type": "text/javascript; charset=utf-8", "cache-control": "public, max-age=86400" },
  });
}
