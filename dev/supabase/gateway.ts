import type { AuthKeys } from "../auth";
import { anonCaller, type Caller, verifyAccessToken } from "./caller";

/**
 * What Supabase's API gateway does in front of Auth and PostgREST, for the dev server: the `apikey`
 * check (header or `?apikey=`), the bearer token turned into the caller PostgREST runs as, and CORS
 * for the frontend's configured origins. Errors are the gateway's own shapes.
 */
export interface GatewayOptions {
  keys: AuthKeys;
  publishableKey: string;
  /** The frontend's origins (FRONTEND_ORIGIN), read per request so a test may change them. */
  origins: () => string[];
  /** `client`: the address of the connection the request came on (Auth counts its rate limits by it). */
  auth: (request: Request, path: string, client: string) => Promise<Response>;
  rest: (request: Request, path: string, caller: Caller) => Promise<Response>;
}

/** Routes a browser reaches without a key: links followed from an email, and the public keys. */
const openRoutes = new Set([
  "GET /auth/v1/verify",
  "GET /auth/v1/.well-known/jwks.json",
  "GET /auth/v1/health",
]);

const allowedHeaders =
  "authorization, apikey, x-client-info, x-supabase-api-version, content-type, accept, accept-profile, content-profile, prefer, range, range-unit, x-upsert";
const exposedHeaders =
  "content-range, content-location, location, preference-applied, range-unit, x-supabase-api-version";

export function supabaseGateway(options: GatewayOptions) {
  const cors = (request: Request): Record<string, string> => {
    const origin = request.headers.get("origin");
    if (!origin || !options.origins().includes(origin)) {
      return {};
    }
    return {
      "access-control-allow-origin": origin,
      "access-control-allow-methods": "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS",
      "access-control-allow-headers": request.headers.get("access-control-request-headers") ?? allowedHeaders,
      "access-control-expose-headers": exposedHeaders,
      "access-control-max-age": "600",
      vary: "Origin",
    };
  };

  const withCors = (request: Request, response: Response): Response => {
    const headers = new Headers(response.headers);
    for (const [name, value] of Object.entries(cors(request))) {
      headers.set(name, value);
    }
    return new Response(response.body, { status: response.status, statusText: response.statusText, headers });
  };

  const keyError = (message: string, hint: string) => Response.json({ message, hint }, { status: 401 });

  const route = async (request: Request, path: string, client: string): Promise<Response> => {
    if (request.method === "OPTIONS") {
      // A preflight carries no key; the browser sends the real request only when the origin is allowed.
      return new Response(null, { status: 204 });
    }
    const url = new URL(request.url);
    if (!openRoutes.has(`${request.method === "HEAD" ? "GET" : request.method} ${path}`)) {
      const key = request.headers.get("apikey") ?? url.searchParams.get("apikey");
      if (!key) {
        return keyError("No API key found in request", "No `apikey` request header or url param was found.");
      }
      if (key !== options.publishableKey) {
        return keyError("Invalid API key", "Double check your Supabase `anon` or `service_role` API key.");
      }
    }
    if (path.startsWith("/auth/v1")) {
      return options.auth(request, path.slice("/auth/v1".length) || "/", client);
    }
    const caller = await restCaller(request);
    if (caller instanceof Response) {
      return caller;
    }
    return options.rest(request, path.slice("/rest/v1".length) || "/", caller);
  };

  /** PostgREST's view of the bearer: none or the publishable key is `anon`; a JWT must verify. */
  const restCaller = async (request: Request): Promise<Caller | Response> => {
    const header = request.headers.get("authorization");
    if (!header) {
      return anonCaller;
    }
    const token = /^Bearer\s+(\S+)$/i.exec(header)?.[1];
    if (token === options.publishableKey) {
      return anonCaller;
    }
    try {
      return await verifyAccessToken(options.keys, token ?? "");
    } catch (error) {
      const expired = (error as { code?: string }).code === "ERR_JWT_EXPIRED";
      return Response.json(
        {
          code: expired ? "PGRST303" : "PGRST301",
          details: null,
          hint: null,
          message: expired ? "JWT expired" : (error as Error).message || "JWT could not be decoded",
        },
        { status: 401, headers: { "www-authenticate": 'Bearer error="invalid_token"' } },
      );
    }
  };

  return {
    /** Whether a path belongs to the Supabase surface. */
    owns: (path: string) => /^\/(auth|rest)\/v1(\/|$)/.test(path),
    async handle(request: Request, path: string, client: string): Promise<Response> {
      return withCors(request, await route(request, path, client));
    },
  };
}
