import { type SQL, sql } from "drizzle-orm";

/**
 * `postgres_changes` filters as Supabase Realtime reads them: `column=op.value`, several joined by
 * commas (all must hold), `not.` before the operator negates it, `in.(a,b)` lists values, and a value
 * may be double-quoted (backslash escapes inside) to carry commas or parentheses. Values are compared
 * as the column's type, as `realtime.check_equality_op` does, by casting the filter's text to it.
 */

export const filterOps = [
  "eq",
  "neq",
  "lt",
  "lte",
  "gt",
  "gte",
  "in",
  "like",
  "ilike",
  "is",
  "match",
  "imatch",
  "isdistinct",
] as const;
export type FilterOp = (typeof filterOps)[number];

export interface ColumnFilter {
  column: string;
  op: FilterOp;
  /** For `in`, a PostgreSQL array literal (`{a,b}`); for `is`, one of null/true/false/unknown. */
  value: string;
  negate: boolean;
}

export class FilterError extends Error {}

/** Splits on commas outside parentheses and outside double quotes (a quote opens after `.`, `(` or `,`). */
function splitTopLevel(filter: string): string[] {
  const parts: string[] = [];
  let current = "";
  let depth = 0;
  let quoted = false;
  let previous = "";
  for (let index = 0; index < filter.length; index++) {
    const char = filter.charAt(index);
    if (quoted) {
      if (char === "\\" && index + 1 < filter.length) {
        current += char + filter.charAt(index + 1);
        previous = filter.charAt(index + 1);
        index++;
        continue;
      }
      if (char === '"') {
        quoted = false;
      }
      current += char;
      previous = char;
      continue;
    }
    if (char === '"' && (previous === "." || previous === "(" || previous === ",")) {
      quoted = true;
    } else if (char === "(") {
      depth++;
    } else if (char === ")") {
      depth = Math.max(0, depth - 1);
    } else if (char === "," && depth === 0) {
      parts.push(current);
      current = "";
      previous = "";
      continue;
    }
    current += char;
    previous = char;
  }
  parts.push(current);
  return parts;
}

/** `"a,b"` → `a,b` when the whole value is one well-formed quoted string; otherwise as written. */
function unquote(value: string): string {
  if (!value.startsWith('"') || value.length < 2 || !value.endsWith('"')) {
    return value;
  }
  let result = "";
  for (let index = 1; index < value.length - 1; index++) {
    const char = value.charAt(index);
    if (char === "\\" && index + 1 < value.length - 1) {
      result += value.charAt(index + 1);
      index++;
    } else if (char === '"') {
      return value;
    } else {
      result += char;
    }
  }
  return result;
}

function parseSegment(segment: string): ColumnFilter {
  const trimmed = segment.trim();
  if (!trimmed) {
    throw new FilterError("filter must not contain empty segments (check for extra commas)");
  }
  const equals = trimmed.indexOf("=");
  if (equals <= 0) {
    throw new FilterError(`expected column=operator.value, got ${JSON.stringify(trimmed)}`);
  }
  const column = trimmed.slice(0, equals);
  let rest = trimmed.slice(equals + 1);
  const negate = rest.startsWith("not.");
  if (negate) {
    rest = rest.slice(4);
  }
  const dot = rest.indexOf(".");
  if (dot < 0) {
    throw new FilterError(`expected operator.value after ${column}=`);
  }
  const op = rest.slice(0, dot);
  const raw = rest.slice(dot + 1);
  if (!(filterOps as readonly string[]).includes(op)) {
    throw new FilterError(`unsupported filter operator ${JSON.stringify(op)}`);
  }
  const filterOp = op as FilterOp;
  if (filterOp === "in") {
    if (!(raw.startsWith("(") && raw.endsWith(")") && raw.length >= 2)) {
      throw new FilterError("`in` filter value must be wrapped by parentheses");
    }
    return { column, op: filterOp, value: `{${raw.slice(1, -1)}}`, negate };
  }
  const value = unquote(raw);
  if (filterOp === "is" && !["null", "true", "false", "unknown"].includes(value.toLowerCase())) {
    throw new FilterError("`is` filter value must be null, true, false or unknown");
  }
  return { column, op: filterOp, value, negate };
}

/** Parses a `filter` string; an empty one is no filter. */
export function parseFilter(filter: string): ColumnFilter[] {
  const trimmed = filter.trim();
  if (!trimmed) {
    return [];
  }
  return splitTopLevel(trimmed).map(parseSegment);
}

/** Double-quotes an identifier for SQL. */
export function ident(name: string): SQL {
  return sql.raw(`"${name.replaceAll('"', '""')}"`);
}

const comparisons: Partial<Record<FilterOp, string>> = {
  eq: "=",
  neq: "<>",
  lt: "<",
  lte: "<=",
  gt: ">",
  gte: ">=",
};

/**
 * One filter as a boolean SQL expression over `row` (a record of the table's type). `sqlType` is the
 * column's `format_type` from the catalog, so it is trusted text, never the client's.
 */
export function filterCondition(filter: ColumnFilter, row: SQL, sqlType: string): SQL {
  const column = sql`${row}.${ident(filter.column)}`;
  const type = sql.raw(sqlType);
  let condition: SQL;
  const comparison = comparisons[filter.op];
  if (comparison) {
    condition = sql`${column} ${sql.raw(comparison)} cast(${filter.value} as ${type})`;
  } else if (filter.op === "in") {
    condition = sql`${column} = any(cast(${filter.value} as ${type}[]))`;
  } else if (filter.op === "like" || filter.op === "ilike") {
    condition = sql`${column}::text ${sql.raw(filter.op)} ${filter.value}`;
  } else if (filter.op === "match" || filter.op === "imatch") {
    condition = sql`${column}::text ${sql.raw(filter.op === "match" ? "~" : "~*")} ${filter.value}`;
  } else if (filter.op === "is") {
    // One of four keywords, checked by parseFilter.
    condition = sql`${column} is ${sql.raw(filter.value.toLowerCase())}`;
  } else {
    condition = sql`${column} is distinct from cast(${filter.value} as ${type})`;
  }
  return filter.negate ? sql`not (${condition})` : sql`(${condition})`;
}
