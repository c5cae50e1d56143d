import type { Caller } from "../caller";

/**
 * Errors in PostgREST's shape, `{ code, details, hint, message }`, with the status PostgREST gives
 * them. `PGRST…` codes are PostgREST's own; five-character codes are PostgreSQL SQLSTATEs passed
 * through (or, for an identifier this stand-in checks before running SQL, the SQLSTATE PostgreSQL
 * would have raised).
 */
export interface PgrstBody {
  code: string;
  details: unknown;
  hint: string | null;
  message: string;
}

export class PgrstError extends Error {
  readonly status: number;
  readonly code: string;
  readonly details: unknown;
  readonly hint: string | null;
  readonly headers: Record<string, string>;

  constructor(
    status: number,
    code: string,
    message: string,
    details: unknown = null,
    hint: string | null = null,
    headers: Record<string, string> = {},
  ) {
    super(message);
    this.name = "PgrstError";
    this.status = status;
    this.code = code;
    this.details = details;
    this.hint = hint;
    this.headers = headers;
  }

  body(): PgrstBody {
    return { code: this.code, details: this.details, hint: this.hint, message: this.message };
  }
}

/** PGRST100: the query string (or a header with the same grammar) does not parse. */
export function parseError(what: string, input: string, details: string): PgrstError {
  return new PgrstError(400, "PGRST100", `"failed to parse ${what} (${input})" (line 1, column 1)`, details);
}

export function columnNotFound(table: string, column: string): PgrstError {
  // PostgREST lets PostgreSQL answer an unknown column in select/filter/order: 42703, status 400.
  return new PgrstError(400, "42703", `column ${table}.${column} does not exist`);
}

export function tableNotFound(name: string, suggestion: string | undefined): PgrstError {
  return new PgrstError(
    404,
    "PGRST205",
    `Could not find the table 'public.${name}' in the schema cache`,
    null,
    suggestion ? `Perhaps you meant the table 'public.${suggestion}'` : null,
  );
}

/**
 * The HTTP status PostgREST maps a SQLSTATE to (docs: references/errors, "HTTP Status Codes").
 * Anything not listed is 400: PostgREST treats unlisted database errors as the request's fault.
 */
export function statusForSqlState(code: string, role: Caller["role"]): number {
  const exact: Record<string, number> = {
    "23503": 409,
    "23505": 409,
    "25006": 405,
    "53400": 500,
    P0001: 400,
    "42883": 404,
    "42P01": 404,
    "42P17": 500,
  };
  const known = exact[code];
  if (known !== undefined) {
    return known;
  }
  if (code === "42501") {
    return role === "anon" ? 401 : 403;
  }
  const prefixes: [string, number][] = [
    ["08", 503],
    ["09", 500],
    ["0L", 403],
    ["0P", 403],
    ["25", 500],
    ["28", 403],
    ["2D", 500],
    ["38", 500],
    ["39", 500],
    ["3B", 500],
    ["40", 500],
    ["53", 503],
    ["54", 500],
    ["55", 500],
    ["57", 500],
    ["58", 500],
    ["F0", 500],
    ["HV", 500],
    ["P0", 500],
    ["XX", 500],
  ];
  for (const [prefix, status] of prefixes) {
    if (code.startsWith(prefix)) {
      return status;
    }
  }
  // PostgREST's custom-status convention: RAISE sqlstate 'PT402' answers 402.
  const custom = /^PT([1-5]\d\d)$/.exec(code);
  if (custom?.[1]) {
    return Number(custom[1]);
  }
  return 400;
}

interface DriverError {
  code?: unknown;
  message?: unknown;
  detail?: unknown;
  hint?: unknown;
  cause?: unknown;
}

/** The driver's PostgreSQL error inside whatever wrapped it (Drizzle wraps it in `.cause`). */
function findDatabaseError(error: unknown): DriverError | undefined {
  let current: unknown = error;
  for (let depth = 0; depth < 5 && current && typeof current === "object"; depth++) {
    const candidate = current as DriverError;
    if (typeof candidate.code === "string" && /^[0-9A-Z]{5}$/.test(candidate.code)) {
      return candidate;
    }
    current = candidate.cause;
  }
  return undefined;
}

function text(value: unknown): string | null {
  return typeof value === "string" && value !== "" ? value : null;
}

/** Any error a request raised, as PostgREST would answer it. */
export function toPgrstError(error: unknown, caller: Caller): PgrstError {
  if (error instanceof PgrstError) {
    return error;
  }
  const db = findDatabaseError(error);
  if (db && typeof db.code === "string") {
    const status = statusForSqlState(db.code, caller.role);
    const headers: Record<string, string> = status === 401 ? { "WWW-Authenticate": "Bearer" } : {};
    return new PgrstError(
      status,
      db.code,
      text(db.message) ?? "database error",
      text(db.detail),
      text(db.hint),
      headers,
    );
  }
  // Not the request's fault and not PostgreSQL's answer: a fault here (PostgREST's internal group).
  return new PgrstError(500, "PGRSTX00", error instanceof Error ? error.message : String(error));
}

export function errorResponse(error: PgrstError): Response {
  return new Response(JSON.stringify(error.body()), {
    status: error.status,
    headers: { "Content-Type": "application/json; charset=utf-8", ...error.headers },
  });
}
