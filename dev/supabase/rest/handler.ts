import { getEngine, rowsOf } from "../../../lib/db/client";
import { asCaller, type Caller } from "../caller";
import { errorResponse, PgrstError, tableNotFound, toPgrstError } from "./errors";
import {
  type Accepted,
  type ParsedQuery,
  type Preferences,
  parseAccept,
  parsePrefer,
  parseQuery,
  parseRange,
} from "./parse";
import { reloadSchemaCache, type SchemaCache, schemaCache, suggestTable, type Table } from "./schema";
import {
  checkEmbeddedKeys,
  compileLevel,
  deleteStatement,
  insertStatement,
  type LevelSql,
  type MutationOptions,
  newContext,
  type ResultRow,
  readStatement,
  updateStatement,
} from "./sql";

/**
 * The local PostgREST behind `/rest/v1` of the dev server's Supabase stand-in: the subset of
 * PostgREST that @supabase/postgrest-js 2.x emits, answered as PostgREST answers it, every statement
 * run through `asCaller` (the caller's role and `request.jwt.claims` in one transaction) so grants,
 * column privileges, guard triggers and row-level security decide exactly as they do in production.
 * Dev only; never a production path. The gateway in front has checked the apikey, verified the JWT
 * into `caller` and handles CORS.
 *
 * Not served: the OpenAPI root (`GET /` answers 404 PGRST125), functions (`/rpc/*` answer 404
 * PGRST202), PUT, spread and aggregate selects, ordering by an embedded resource, limited
 * PATCH/DELETE; each answers a PostgREST error, never a 500. A PATCH/DELETE without a filter is refused
 * (400, 21000) as Supabase's pg-safeupdate refuses it.
 */
export interface RestOptions {
  /** PostgREST's `db-max-rows`; Supabase's default for the Data API is 1000. */
  maxRows?: number;
}

const json = "application/json; charset=utf-8";

export function restHandler(
  options: RestOptions = {},
): (request: Request, path: string, caller: Caller) => Promise<Response> {
  const maxRows = options.maxRows ?? 1000;
  return async (request, path, caller) => {
    try {
      return await handle(request, path, caller, maxRows);
    } catch (error) {
      const answer = toPgrstError(error, caller);
      if (answer.status >= 500 && answer.code.startsWith("PGRST")) {
        console.error("local PostgREST fault", error);
      }
      return errorResponse(answer);
    }
  };
}

/** Forces the next request to read the catalog again (PostgREST's schema cache reload). */
export async function reloadRestSchema(): Promise<void> {
  reloadSchemaCache(await getEngine());
}

async function handle(request: Request, path: string, caller: Caller, maxRows: number): Promise<Response> {
  const method = request.method.toUpperCase();
  const resource = decodePath(path);
  if (resource === "") {
    // The OpenAPI description PostgREST serves at its root is not implemented here.
    throw new PgrstError(
      404,
      "PGRST125",
      "Invalid path specified in request URL",
      null,
      "The local PostgREST does not serve the OpenAPI root",
    );
  }
  const url = new URL(request.url);
  if (resource.startsWith("rpc/")) {
    throw await functionNotFound(request, resource.slice(4), url);
  }
  if (resource.includes("/")) {
    throw new PgrstError(404, "PGRST125", "Invalid path specified in request URL");
  }
  checkProfile(request, method);
  if (method === "OPTIONS") {
    return new Response(null, { status: 200, headers: { Allow: "OPTIONS,GET,HEAD,POST,PATCH,DELETE" } });
  }
  if (!["GET", "HEAD", "POST", "PATCH", "DELETE"].includes(method)) {
    throw new PgrstError(405, "PGRST117", `Unsupported HTTP method: ${method}`);
  }
  const accepted = parseAccept(request.headers.get("accept"));
  const prefs = parsePrefer(request.headers.get("prefer"));
  const query = parseQuery(url.searchParams);
  const { engine, cache: loaded } = await loadCache();
  let cache = loaded;
  let table = cache.tables.get(resource);
  if (!table) {
    // A table made after the cache was read (a migration while the dev server runs): read it again
    // once before answering PGRST205, instead of requiring an explicit reload.
    reloadSchemaCache(engine);
    cache = await schemaCache(engine);
    table = cache.tables.get(resource);
    if (!table) {
      throw tableNotFound(resource, suggestTable(cache, resource));
    }
  }
  checkEmbeddedKeys(query);
  const request_ = { request, caller, cache, table, query, accepted, prefs, maxRows };
  if (method === "GET" || method === "HEAD") {
    return read(request_, method === "HEAD");
  }
  return mutate(request_, method);
}

interface Req {
  request: Request;
  caller: Caller;
  cache: SchemaCache;
  table: Table;
  query: ParsedQuery;
  accepted: Accepted;
  prefs: Preferences;
  maxRows: number;
}

/** The engine and its schema cache; 503 PGRST002 (which postgrest-js retries) when unreachable. */
async function loadCache(): Promise<{ engine: Awaited<ReturnType<typeof getEngine>>; cache: SchemaCache }> {
  try {
    const engine = await getEngine();
    return { engine, cache: await schemaCache(engine) };
  } catch (error) {
    console.error("local PostgREST: cannot read the schema cache", error);
    throw new PgrstError(
      503,
      "PGRST002",
      "Could not query the database for the schema cache. Retrying.",
      null,
      null,
      { "Retry-After": "1" },
    );
  }
}

function decodePath(path: string): string {
  const trimmed = path.replace(/^\/+/, "").replace(/\/+$/, "");
  try {
    return decodeURIComponent(trimmed);
  } catch {
    throw new PgrstError(404, "PGRST125", "Invalid path specified in request URL");
  }
}

function checkProfile(request: Request, method: string): void {
  const header = method === "GET" || method === "HEAD" ? "accept-profile" : "content-profile";
  const profile = request.headers.get(header);
  if (profile !== null && profile.trim() !== "public") {
    throw new PgrstError(
      406,
      "PGRST106",
      `Invalid schema: ${profile}`,
      null,
      "Only the following schemas are exposed: public",
    );
  }
}

async function functionNotFound(request: Request, name: string, url: URL): Promise<PgrstError> {
  let args: string[] = [...new Set(url.searchParams.keys())];
  if (request.method.toUpperCase() === "POST") {
    try {
      const body: unknown = JSON.parse((await request.text()) || "{}");
      args = body && typeof body === "object" && !Array.isArray(body) ? Object.keys(body) : [];
    } catch {
      args = [];
    }
  }
  const signature =
    args.length === 0 ? `public.${name} without parameters` : `public.${name}(${args.sort().join(", ")})`;
  return new PgrstError(
    404,
    "PGRST202",
    `Could not find the function ${signature} in the schema cache`,
    null,
    "The local PostgREST does not serve functions (/rpc)",
  );
}

function firstRow(result: unknown): ResultRow {
  const [row] = rowsOf<ResultRow>(result);
  if (!row) {
    throw new Error("the statement answered no row");
  }
  return row;
}

function singularError(count: number): PgrstError {
  return new PgrstError(
    406,
    "PGRST116",
    "Cannot coerce the result to a single JSON object",
    `The result contains ${count} rows`,
  );
}

function applied(prefs: Preferences, names: (keyof Preferences)[]): Record<string, string> {
  const parts = names
    .filter((name) => prefs[name] !== undefined)
    .map((name) => `${name}=${String(prefs[name])}`);
  return parts.length > 0 ? { "Preference-Applied": parts.join(", ") } : {};
}

function contentType(accepted: Accepted): string {
  if (accepted.media === "object") {
    return "application/vnd.pgrst.object+json; charset=utf-8";
  }
  if (accepted.media === "csv") {
    return "text/csv; charset=utf-8";
  }
  return json;
}

// --- reads -------------------------------------------------------------------------------------------

/** The requested window: the Range header intersected with `offset`/`limit`, capped at max rows. */
function window(req: Req, level: LevelSql): { offset: number; limit?: number } {
  const range = parseRange(req.request.headers.get("range"));
  let start = level.offset ?? 0;
  let end = level.limit === undefined ? Number.POSITIVE_INFINITY : start + level.limit - 1;
  if (range) {
    start = Math.max(start, range.offset);
    end = Math.min(end, range.last ?? Number.POSITIVE_INFINITY);
  }
  const count = end === Number.POSITIVE_INFINITY ? undefined : Math.max(0, end - start + 1);
  const limit = count === undefined ? req.maxRows : Math.min(count, req.maxRows);
  return { offset: start, limit };
}

async function read(req: Req, head: boolean): Promise<Response> {
  const ctx = newContext(req.cache, req.query);
  const level = compileLevel(ctx, req.table, "pgrst_0", req.query.select, []);
  const { offset, limit } = window(req, level);
  const counting = req.prefs.count !== undefined;
  const statement = readStatement(level, {
    count: counting,
    offset,
    limit,
    stripNulls: req.accepted.stripNulls,
  });
  const row = await asCaller(req.caller, async (tx) => firstRow(await tx.execute(statement)));
  const page = Number(row.page_total);
  const total = counting && row.total !== null ? Number(row.total) : undefined;
  const lower = offset;
  const upper = lower + page - 1;
  let status = 200;
  if (total !== undefined) {
    if (lower > total) {
      throw new PgrstError(
        416,
        "PGRST103",
        "Requested range not satisfiable",
        `An offset of ${lower} was requested, but there are only ${total} rows.`,
        null,
        { "Content-Range": `*/${total}` },
      );
    }
    if (1 + upper - lower < total) {
      status = 206;
    }
  }
  const rangeText = total !== 0 && lower <= upper ? `${lower}-${upper}` : "*";
  const headers: Record<string, string> = {
    "Content-Type": contentType(req.accepted),
    "Content-Range": `${rangeText}/${total ?? "*"}`,
    ...applied(req.prefs, ["count"]),
  };
  let body = row.body;
  if (req.accepted.media === "object") {
    if (page !== 1) {
      throw singularError(page);
    }
    body = row.first ?? "null";
  } else if (req.accepted.media === "csv") {
    body = toCsv(JSON.parse(row.body) as Record<string, unknown>[]);
  }
  return new Response(head ? null : body, { status, headers });
}

function csvValue(value: unknown): string {
  if (value === null || value === undefined) {
    return "";
  }
  const text = typeof value === "object" ? JSON.stringify(value) : String(value);
  return /[",\r\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}

function toCsv(rows: Record<string, unknown>[]): string {
  const first = rows[0];
  if (!first) {
    return "";
  }
  const keys = Object.keys(first);
  const lines = [keys.map(csvValue).join(",")];
  for (const row of rows) {
    lines.push(keys.map((key) => csvValue(row[key])).join(","));
  }
  return lines.join("\n");
}

// --- writes ------------------------------------------------------------------------------------------

function invalidBody(details: string | null = null): PgrstError {
  return new PgrstError(400, "PGRST102", "Empty or invalid json", details);
}

async function readBody(request: Request): Promise<unknown> {
  const type = request.headers.get("content-type");
  if (type !== null) {
    const media = type.split(";")[0]?.trim().toLowerCase() ?? "";
    if (media !== "application/json" && media !== "") {
      throw new PgrstError(415, "PGRST107", `Content-Type not acceptable: ${type}`);
    }
  }
  const text = await request.text();
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw invalidBody();
  }
}

function isObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}

function checkColumns(table: Table, columns: string[]): void {
  for (const name of columns) {
    if (!table.columns.has(name)) {
      throw new PgrstError(
        400,
        "PGRST204",
        `Could not find the '${name}' column of '${table.name}' in the schema cache`,
      );
    }
  }
}

/** The columns an insert names: `columns=`, else the keys of the body (the same in every object). */
function insertColumns(query: ParsedQuery, rows: Record<string, unknown>[]): string[] {
  if (query.columns) {
    return [...new Set(query.columns)];
  }
  const first = rows[0];
  if (!first) {
    return [];
  }
  const keys = Object.keys(first);
  for (const row of rows) {
    const other = Object.keys(row);
    if (other.length !== keys.length || !other.every((key) => Object.hasOwn(first, key))) {
      throw invalidBody("All object keys must match");
    }
  }
  return keys;
}

function locationOf(table: Table, row: string | null): Record<string, string> {
  if (!row || table.primaryKey.length === 0) {
    return {};
  }
  const values = JSON.parse(row) as Record<string, unknown>;
  const params = table.primaryKey.map(
    (key) => `${encodeURIComponent(key)}=eq.${encodeURIComponent(String(values[key]))}`,
  );
  return { Location: `/${table.name}?${params.join("&")}` };
}

async function mutate(req: Req, method: string): Promise<Response> {
  const { table, query, prefs, accepted } = req;
  const top = query.levels.get("");
  if (
    method !== "POST" &&
    (top?.limit !== undefined || top?.offset !== undefined || req.request.headers.has("range"))
  ) {
    // PostgREST limits a PATCH/DELETE only with an order on a unique column; not served here, and
    // ignoring the limit would change more rows than asked.
    throw new PgrstError(
      400,
      "PGRST109",
      "Limited PATCH and DELETE are not supported by the local PostgREST",
      null,
      "Filter the rows to change instead of using limit or offset",
    );
  }
  const representation = prefs.return === "representation";
  const options: MutationOptions = {
    returning: representation
      ? "representation"
      : prefs.return === "headers-only" && method === "POST"
        ? "key"
        : "none",
    stripNulls: accepted.stripNulls,
  };
  const ctx = newContext(req.cache, query);
  const level = compileLevel(ctx, table, "pgrst_0", query.select, []);
  let statement: ReturnType<typeof deleteStatement> | undefined;
  const appliedNames: (keyof Preferences)[] = ["return", "count"];
  if (method === "POST") {
    const body = await readBody(req.request);
    const rows = Array.isArray(body) ? body : [body];
    if (!rows.every(isObject)) {
      throw invalidBody();
    }
    const columns = insertColumns(query, rows);
    checkColumns(table, columns);
    if (query.onConflict) {
      checkColumns(table, query.onConflict);
    }
    appliedNames.push("resolution", "missing");
    if (rows.length > 0) {
      statement = insertStatement(level, {
        ...options,
        rows,
        columns,
        missingDefault: prefs.missing === "default",
        resolution: prefs.resolution,
        onConflict: query.onConflict,
      });
    }
  } else if (method === "PATCH") {
    const body = await readBody(req.request);
    if (!isObject(body)) {
      throw invalidBody();
    }
    const columns = query.columns ? [...new Set(query.columns)] : Object.keys(body);
    checkColumns(table, columns);
    if (columns.length > 0) {
      statement = updateStatement(level, body, columns, options);
    }
  } else {
    statement = deleteStatement(level, options);
  }
  const mutation = statement;
  const row: ResultRow = mutation
    ? await asCaller(req.caller, async (tx) => {
        const result = firstRow(await tx.execute(mutation));
        if (representation && accepted.media === "object" && Number(result.page_total) !== 1) {
          // Thrown inside the transaction so the change is rolled back, as PostgREST does.
          throw singularError(Number(result.page_total));
        }
        return result;
      })
    : { total: null, page_total: "0", body: "[]", first: null };
  if (!mutation && representation && accepted.media === "object") {
    throw singularError(0);
  }
  const affected = Number(row.page_total);
  const headers: Record<string, string> = {
    "Content-Range": `*/${prefs.count !== undefined ? affected : "*"}`,
    ...applied(prefs, appliedNames),
  };
  if (options.returning === "key") {
    Object.assign(headers, locationOf(table, row.first));
  }
  const status = method === "POST" ? 201 : representation ? 200 : 204;
  if (!representation) {
    return new Response(null, { status, headers });
  }
  headers["Content-Type"] = contentType(accepted);
  let body = row.body;
  if (accepted.media === "object") {
    body = row.first ?? "null";
  } else if (accepted.media === "csv") {
    body = toCsv(JSON.parse(row.body) as Record<string, unknown>[]);
  }
  return new Response(body, { status, headers });
}
