/**
 * One real request per function, for the test that serves a request through each built function
 * and for the bench's cold start: the function's own method (the first it allows, GET preferred),
 * its URL with concrete path segments, no credentials. Every function answers it fully — the route
 * wrapper, the body and path validation, the auth or signature check — with its real envelope.
 */
// Imports nothing: the bench's cold-start child bundles this file, and whatever it imported would
// be loaded by the floor and by every function alike.

type Handler = (request: Request) => Promise<Response>;
export type FunctionModule = Partial<Record<string, Handler>>;

/** A concrete URL path for the function `api/tasks/[user_id]` (segments also in the query, as on Vercel). */
export function probePath(name: string): string {
  const params = new URLSearchParams();
  const path = name
    .split("/")
    .map((segment) => {
      const catchAll = /^\[\.\.\.(\w+)\]$/.exec(segment);
      const single = /^\[(\w+)\]$/.exec(segment);
      if (catchAll?.[1]) {
        params.set(catchAll[1], "no/such/route");
        return "no/such/route";
      }
      if (single?.[1]) {
        params.set(single[1], "7f3c2a4e-1b2d-4c5e-8f90-a1b2c3d4e5f6");
        return "7f3c2a4e-1b2d-4c5e-8f90-a1b2c3d4e5f6";
      }
      return segment;
    })
    .join("/");
  const query = params.toString();
  return `/${path}${query ? `?${query}` : ""}`;
}

/** The methods a function serves, from its own OPTIONS answer (`Allow`). */
export async function allowedMethods(module: FunctionModule, url: string): Promise<string[]> {
  const options = module.OPTIONS;
  if (!options) {
    return Object.keys(module).filter((key) => /^[A-Z]+$/.test(key));
  }
  const response = await options(new Request(url, { method: "OPTIONS" }));
  return (response.headers.get("allow") ?? "")
    .split(",")
    .map((method) => method.trim())
    .filter((method) => method && method !== "OPTIONS");
}

/** Sends the probe request through the module's handler and reads the whole answer. */
export async function probe(
  module: FunctionModule,
  name: string,
  origin = "http://localhost:3000",
): Promise<{ method: string; status: number; body: string; contentType: string }> {
  const url = `${origin}${probePath(name)}`;
  const methods = await allowedMethods(module, url);
  const method = methods.includes("GET") ? "GET" : (methods[0] ?? "GET");
  const handler = module[method];
  if (!handler) {
    throw new Error(`${name} exports no ${method} handler`);
  }
  const response = await handler(
    new Request(url, {
      method,
      headers: { "content-type": "application/json", "x-request-id": "probe-request-0001" },
      ...(method === "GET" ? {} : { body: "{}" }),
    }),
  );
  return {
    method,
    status: response.status,
    body: await response.text(),
    contentType: response.headers.get("content-type") ?? "",
  };
}
