import { and, desc, eq, getTableColumns, inArray, type SQL, sql } from "drizzle-orm";
import type { PgColumn, PgTable } from "drizzle-orm/pg-core";
import { z } from "zod";
import type { DbUser } from "../db/as-user";
import { asUser } from "../db/as-user";
import { workspaceMembers } from "../db/schema";
import { isoTimestamp } from "../db/timestamps";
import { ApiError } from "../http/errors";

/** Keyset cursor: the sort-key values of the last row of a page, opaque to callers. */
const cursorSchema = z
  .array(z.union([z.string().max(64), z.number().int()]))
  .min(1)
  .max(4);

export function encodeCursor(values: (string | number)[]): string {
  return Buffer.from(JSON.stringify(values)).toString("base64url");
}

/** What a cursor value must look like for the type it is cast to (else PostgreSQL would refuse it). */
const cursorValue: Record<SortKey["cast"], z.ZodType> = {
  integer: z.int().min(-2_147_483_648).max(2_147_483_647),
  uuid: z.string().regex(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i),
  // PostgreSQL's own text form of a timestamptz, as the rows carry it, and a real instant.
  timestamptz: z
    .string()
    .regex(/^\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}:\d{2}(\.\d{1,6})?([+-]\d{2}(:?\d{2})?|Z)$/)
    .refine((value) => {
      const iso = value.replace(" ", "T").replace(/([+-]\d{2})$/, "$1:00");
      const date = new Date(iso);
      return !Number.isNaN(date.getTime()) && date.toISOString().slice(0, 10) === iso.slice(0, 10);
    }),
};

export function decodeCursor(cursor: string, keys: readonly SortKey[]): (string | number)[] {
  try {
    const values = cursorSchema.parse(JSON.parse(Buffer.from(cursor, "base64url").toString("utf8")));
    if (values.length !== keys.length) {
      throw new Error("length");
    }
    keys.forEach((key, index) => {
      cursorValue[key.cast].parse(values[index]);
    });
    return values;
  } catch {
    throw new ApiError("bad_request", "query.cursor: not a cursor returned by this endpoint");
  }
}

export const pageQuery = (defaultLimit: number) => ({
  limit: z.coerce
    .number()
    .int()
    .min(1)
    .max(100)
    .default(defaultLimit)
    .meta({ description: `Rows per page (1–100, default ${defaultLimit})` }),
  cursor: z.string().max(512).optional().meta({ description: "The `next_cursor` of the previous page" }),
});

export const booleanQuery = z.enum(["true", "false"]).transform((value) => value === "true");

export interface SortKey {
  column: PgColumn;
  /** SQL type the cursor value is cast to, so comparisons use the column's own ordering. */
  cast: "timestamptz" | "integer" | "uuid";
}

export interface ListOptions<T extends PgTable & { workspace_id: PgColumn }> {
  table: T;
  /** The one workspace asked for (membership checked), or every workspace the caller is in. */
  workspaceId: string | undefined;
  /** All descending; the last must be unique (the id) so pages never overlap or skip. */
  keys: SortKey[];
  filters: (SQL | undefined)[];
  limit: number;
  cursor: string | undefined;
}

export interface Page<Row> {
  data: Row[];
  next_cursor: string | null;
}

/**
 * One page of the rows the caller may see, newest (or highest) first, under row-level security. The
 * explicit workspace filter is for the index; RLS is what guarantees no other workspace's row can
 * appear.
 */
export async function listPage<T extends PgTable & { workspace_id: PgColumn }>(
  user: DbUser,
  options: ListOptions<T>,
): Promise<Page<Record<string, unknown>>> {
  const { table, keys, limit } = options;
  const conditions: (SQL | undefined)[] = [...options.filters];
  if (options.cursor) {
    const values = decodeCursor(options.cursor, keys);
    const left = sql.join(
      keys.map((key) => sql`${key.column}`),
      sql`, `,
    );
    const right = sql.join(
      keys.map((key, index) => sql`${values[index]}::${sql.raw(key.cast)}`),
      sql`, `,
    );
    conditions.push(sql`(${left}) < (${right})`);
  }
  const rows = (await asUser(user, async (tx) => {
    // The workspaces as literal ids, in the same transaction: one workspace (the usual case) is an
    // equality the (workspace_id, sort keys) index serves with its limit; a subquery would make the
    // planner read and sort every row of the workspace.
    const ids = options.workspaceId
      ? [options.workspaceId]
      : (
          await tx
            .select({ id: workspaceMembers.workspace_id })
            .from(workspaceMembers)
            .where(eq(workspaceMembers.user_id, user.id))
        ).map((row) => row.id);
    if (ids.length === 0) {
      return [];
    }
    return tx
      .select()
      .from(table as PgTable)
      .where(
        and(
          ids.length === 1 ? eq(table.workspace_id, ids[0] as string) : inArray(table.workspace_id, ids),
          ...conditions,
        ),
      )
      .orderBy(...keys.map((key) => desc(key.column)))
      .limit(limit + 1);
  })) as Record<string, unknown>[];

  const page = rows.slice(0, limit);
  const last = page.at(-1);
  const columns = getTableColumns(table);
  const keyNames = keys.map((key) => Object.keys(columns).find((name) => columns[name] === key.column) ?? "");
  const timestampNames = Object.entries(columns)
    .filter(([, column]) => column.columnType === "PgTimestampString")
    .map(([name]) => name);

  return {
    data: page.map((row) => {
      const out = { ...row };
      for (const name of timestampNames) {
        const value = out[name];
        if (typeof value === "string") {
          out[name] = isoTimestamp(value);
        }
      }
      return out;
    }),
    next_cursor:
      rows.length > limit && last
        ? encodeCursor(keyNames.map((name) => last[name] as string | number))
        : null,
  };
}
