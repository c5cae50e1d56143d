import { readFileSync } from "node:fs";
import { join } from "node:path";
import { type SQL, sql } from "drizzle-orm";
import { rowsOf, type SqlEngine } from "../../../lib/db/client";
import { log } from "../../../lib/log";
import { asCaller, type Caller } from "../caller";
import { type ColumnFilter, filterCondition, ident } from "./filters";

/**
 * The change feed of the local Realtime: row changes captured by dev-only triggers
 * (dev/db/realtime.sql) and sent with NOTIFY, read here in commit order, and the database-side checks
 * hosted Realtime makes in `realtime.apply_rls`: filters, column privileges, row-level security.
 */

const CHANNEL = "realtime_dev";

/** Hosted Realtime's `max_record_bytes`: above it the change carries an error and only small values. */
const MAX_RECORD_BYTES = 1024 * 1024;
const SMALL_VALUE_BYTES = 64;

export type ChangeType = "INSERT" | "UPDATE" | "DELETE";
type Row = Record<string, unknown>;

export interface RowChange {
  schema: string;
  table: string;
  type: ChangeType;
  commitTimestamp: string;
  /** The new row (INSERT, UPDATE). */
  record: Row | null;
  /** The whole old row (UPDATE, DELETE), as the trigger saw it; payloads send only part of it. */
  oldRecord: Row | null;
}

/**
 * Installs (or refreshes) the change capture: run after migrations, on every start. Attaches the
 * trigger to each table in the `supabase_realtime` publication and removes it from tables no longer
 * in it.
 */
export async function installChangeCapture(engine: SqlEngine): Promise<void> {
  const script = readFileSync(join(import.meta.dirname, "..", "..", "db", "realtime.sql"), "utf8");
  await engine.exec(script, { transaction: true });
}

function isRow(value: unknown): value is Row {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function toChange(value: unknown): RowChange | undefined {
  if (!isRow(value)) {
    return undefined;
  }
  const { schema, table, type, commit_timestamp: commitTimestamp, record, old_record: oldRecord } = value;
  if (
    typeof schema !== "string" ||
    typeof table !== "string" ||
    (type !== "INSERT" && type !== "UPDATE" && type !== "DELETE") ||
    typeof commitTimestamp !== "string"
  ) {
    return undefined;
  }
  return {
    schema,
    table,
    type,
    commitTimestamp,
    record: isRow(record) ? record : null,
    oldRecord: isRow(oldRecord) ? oldRecord : null,
  };
}

export interface ChangeFeed {
  /** Stops listening and waits for the change being handled. */
  close(): Promise<void>;
}

/**
 * Listens for captured changes and hands them to `onChange` one at a time, in the order the
 * notifications arrive (commit order), each after the previous one's `onChange` settled.
 */
export async function startChangeFeed(
  engine: SqlEngine,
  onChange: (change: RowChange) => Promise<void>,
): Promise<ChangeFeed> {
  let queue: Promise<void> = Promise.resolve();
  let closed = false;

  const resolve = async (message: string): Promise<RowChange | undefined> => {
    const parsed: unknown = JSON.parse(message);
    if (isRow(parsed) && typeof parsed.ref === "number") {
      const rows = rowsOf<{ payload: unknown }>(
        await engine.db.execute(
          sql`delete from realtime_dev.changes where id = ${parsed.ref} returning payload`,
        ),
      );
      const payload = rows[0]?.payload;
      return toChange(typeof payload === "string" ? JSON.parse(payload) : payload);
    }
    return toChange(parsed);
  };

  const unlisten = await engine.listen(CHANNEL, (message) => {
    queue = queue.then(async () => {
      if (closed) {
        return;
      }
      try {
        const change = await resolve(message);
        if (change) {
          await onChange(change);
        } else {
          log.warn({ message: message.slice(0, 200) }, "realtime: unreadable change notification");
        }
      } catch (error) {
        log.warn({ err: error }, "realtime: a change could not be delivered");
      }
    });
  });

  return {
    close: async () => {
      closed = true;
      await unlisten();
      await queue;
    },
  };
}

// --- Table metadata -------------------------------------------------------------------------------

export type Role = Caller["role"];
const roles: readonly Role[] = ["anon", "authenticated", "service_role"];

export interface ColumnInfo {
  name: string;
  /** `pg_type.typname`, what Realtime puts in `columns[].type` (realtime-js converts values by it). */
  type: string;
  /** `format_type`, for casts. */
  sqlType: string;
  isPrimaryKey: boolean;
  /** Part of the replica identity: what hosted Realtime gets of the old row for UPDATE and DELETE. */
  isIdentity: boolean;
  selectableBy: Record<Role, boolean>;
}

export interface TableInfo {
  oid: number;
  schema: string;
  table: string;
  rowLevelSecurity: boolean;
  bypassRls: Record<Role, boolean>;
  columns: ColumnInfo[];
}

/** The table's columns, keys, replica identity and privileges now; undefined if it does not exist. */
export async function describeTable(
  engine: SqlEngine,
  schema: string,
  table: string,
): Promise<TableInfo | undefined> {
  // The three role names are constants of this module, never input.
  const privileges = sql.raw(
    roles.map((role) => `'${role}', has_column_privilege('${role}', c.oid, a.attnum, 'SELECT')`).join(", "),
  );
  const rows = rowsOf<{
    oid: number;
    rls: boolean;
    bypass: Record<Role, boolean> | string;
    columns: ColumnInfo[] | string;
  }>(
    await engine.db.execute(sql`
      select
        c.oid::int as oid,
        c.relrowsecurity as rls,
        (select jsonb_object_agg(r.rolname, r.rolbypassrls or r.rolsuper) from pg_roles r
          where r.rolname in ('anon', 'authenticated', 'service_role')) as bypass,
        coalesce((
          select jsonb_agg(jsonb_build_object(
            'name', a.attname,
            'type', t.typname,
            'sqlType', format_type(a.atttypid, a.atttypmod),
            'isPrimaryKey', coalesce(a.attnum = any(pk.conkey), false),
            'isIdentity', case c.relreplident
              when 'f' then true
              when 'd' then coalesce(a.attnum = any(pk.conkey), false)
              when 'i' then coalesce(a.attnum = any(ri.indkey::int2[]), false)
              else false end,
            'selectableBy', jsonb_build_object(${privileges})
          ) order by a.attnum)
          from pg_attribute a join pg_type t on t.oid = a.atttypid
          where a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped
        ), '[]'::jsonb) as columns
      from pg_class c
      join pg_namespace n on n.oid = c.relnamespace
      left join pg_constraint pk on pk.conrelid = c.oid and pk.contype = 'p'
      left join pg_index ri on ri.indrelid = c.oid and ri.indisreplident
      where n.nspname = ${schema} and c.relname = ${table} and c.relkind in ('r', 'p')
    `),
  );
  const row = rows[0];
  if (!row) {
    return undefined;
  }
  const parse = <T>(value: T | string): T => (typeof value === "string" ? (JSON.parse(value) as T) : value);
  const bypass = parse(row.bypass) ?? {};
  return {
    oid: row.oid,
    schema,
    table,
    rowLevelSecurity: row.rls,
    bypassRls: {
      anon: bypass.anon ?? false,
      authenticated: bypass.authenticated ?? false,
      service_role: bypass.service_role ?? false,
    },
    columns: parse(row.columns),
  };
}

function rowType(info: TableInfo): SQL {
  return sql`${ident(info.schema)}.${ident(info.table)}`;
}

// --- Filters --------------------------------------------------------------------------------------

/**
 * Checks that the filters name columns of the table and that their values cast to the columns'
 * types, by evaluating them once over an empty row. Answers an error message, or undefined.
 */
export async function validateFilters(
  engine: SqlEngine,
  info: TableInfo,
  filters: ColumnFilter[],
): Promise<string | undefined> {
  if (filters.length === 0) {
    return undefined;
  }
  const conditions: SQL[] = [];
  for (const filter of filters) {
    const column = info.columns.find((c) => c.name === filter.column);
    if (!column) {
      return `invalid column for filter ${filter.column}`;
    }
    conditions.push(filterCondition(filter, sql.raw("r"), column.sqlType));
  }
  try {
    await engine.db.execute(
      sql`select ${sql.join(conditions, sql` and `)} from jsonb_populate_record(null::${rowType(info)}, '{}'::jsonb) r`,
    );
    return undefined;
  } catch (error) {
    return `invalid filter value: ${error instanceof Error ? error.message : String(error)}`;
  }
}

/** The part of the old row hosted Realtime receives (its replica identity). */
export function identityOf(info: TableInfo, row: Row | null): Row {
  const identity: Row = {};
  for (const column of info.columns) {
    if (column.isIdentity && row && column.name in row) {
      identity[column.name] = row[column.name];
    }
  }
  return identity;
}

/**
 * Whether a change passes a subscription's filters, judged as hosted Realtime does: on the new row
 * for INSERT and UPDATE, and for DELETE on the old row's replica identity only (so with the default
 * identity a DELETE passes a filter only when it names primary-key columns). A filter on a column
 * the row does not carry fails; so does a comparison with null.
 */
export async function passesFilters(
  engine: SqlEngine,
  info: TableInfo,
  change: RowChange,
  filters: ColumnFilter[],
): Promise<boolean> {
  if (filters.length === 0) {
    return true;
  }
  const row = change.type === "DELETE" ? identityOf(info, change.oldRecord) : (change.record ?? {});
  const conditions: SQL[] = [];
  for (const filter of filters) {
    const column = info.columns.find((c) => c.name === filter.column);
    if (!column || !(filter.column in row)) {
      return false;
    }
    conditions.push(filterCondition(filter, sql.raw("r"), column.sqlType));
  }
  try {
    const rows = rowsOf<{ ok: boolean }>(
      await engine.db.execute(
        sql`select coalesce(${sql.join(conditions, sql` and `)}, false) as ok
            from jsonb_populate_record(null::${rowType(info)}, ${JSON.stringify(row)}::jsonb) r`,
      ),
    );
    return rows[0]?.ok === true;
  } catch (error) {
    log.warn({ err: error }, "realtime: a filter could not be evaluated");
    return false;
  }
}

// --- Visibility -----------------------------------------------------------------------------------

/**
 * Whether `caller` may see the change's row, asked as the caller (its role and claims, as PostgREST
 * and Realtime's `apply_rls` do).
 *
 * INSERT and UPDATE: the caller must be able to SELECT the primary key, and (with row-level security
 * on) selecting the row by its key as the caller must find it, as hosted Realtime's prepared
 * statement does. Without a primary key hosted Realtime sends an error payload instead; here nothing.
 *
 * DELETE — where this stand-in deliberately differs from hosted Supabase. Hosted Realtime cannot
 * check row-level security on a row that no longer exists, so it sends every subscriber whose filter
 * passes the deleted row's primary key ("RLS is not applied to deletes"): a stranger subscribed to
 * the table without a filter learns the ids of other workspaces' deleted rows. Here the trigger keeps
 * the whole old row, so the table's SELECT policies that apply to the caller's role are evaluated, as
 * the caller, on that old row; the DELETE reaches only subscribers who could read the row just before
 * it went. The payload is the same as hosted (the primary key only, when row-level security is on).
 * A policy that looks the row up in its own table again sees it gone; none here does.
 */
export async function canSee(
  engine: SqlEngine,
  caller: Caller,
  info: TableInfo,
  change: RowChange,
): Promise<boolean> {
  const keys = info.columns.filter((column) => column.isPrimaryKey);
  if (keys.length === 0 || !keys.every((column) => column.selectableBy[caller.role])) {
    return false;
  }
  if (!info.rowLevelSecurity || info.bypassRls[caller.role]) {
    return true;
  }
  const table = rowType(info);
  if (change.type !== "DELETE") {
    const match = sql.join(
      keys.map((column) => sql`t.${ident(column.name)} = k.${ident(column.name)}`),
      sql` and `,
    );
    return asCaller(caller, async (tx) => {
      const rows = rowsOf<{ visible: boolean }>(
        await tx.execute(sql`
          select exists (
            select 1 from ${table} t, jsonb_populate_record(null::${table}, ${JSON.stringify(change.record ?? {})}::jsonb) k
            where ${match}
          ) as visible
        `),
      );
      return rows[0]?.visible === true;
    });
  }
  const policies = rowsOf<{ permissive: boolean; qual: string | null }>(
    await engine.db.execute(sql`
      select p.polpermissive as permissive, pg_get_expr(p.polqual, p.polrelid) as qual
      from pg_policy p
      where p.polrelid = ${info.oid}::oid and p.polcmd in ('r', '*')
        and (0::oid = any(p.polroles)
          or exists (select 1 from unnest(p.polroles) r where r <> 0::oid and pg_has_role(${caller.role}, r, 'MEMBER')))
    `),
  );
  // A policy without a USING expression grants no reads.
  const quals = (permissive: boolean) =>
    policies.filter((p) => p.permissive === permissive).map((p) => sql.raw(`(${p.qual ?? "false"})`));
  const permissive = quals(true);
  if (permissive.length === 0) {
    return false;
  }
  const restrictive = quals(false);
  const condition = sql.join([sql`(${sql.join(permissive, sql` or `)})`, ...restrictive], sql` and `);
  try {
    return await asCaller(caller, async (tx) => {
      // The old row, under the table's own name so the policies' column references resolve to it.
      const rows = rowsOf<{ visible: boolean }>(
        await tx.execute(sql`
          select exists (
            select 1 from jsonb_populate_record(null::${table}, ${JSON.stringify(change.oldRecord ?? {})}::jsonb)
              as ${ident(info.table)}
            where ${condition}
          ) as visible
        `),
      );
      return rows[0]?.visible === true;
    });
  } catch (error) {
    log.warn({ err: error }, "realtime: a DELETE's policies could not be evaluated; not delivered");
    return false;
  }
}

// --- Payload --------------------------------------------------------------------------------------

function pick(row: Row | null, names: Set<string>): Row {
  const picked: Row = {};
  if (row) {
    for (const [name, value] of Object.entries(row)) {
      if (names.has(name)) {
        picked[name] = value;
      }
    }
  }
  return picked;
}

function dropLargeValues(row: Row): Row {
  return Object.fromEntries(
    Object.entries(row).filter(
      ([, value]) => Buffer.byteLength(JSON.stringify(value) ?? "") <= SMALL_VALUE_BYTES,
    ),
  );
}

/**
 * The `data` of a `postgres_changes` message for a caller of `role`, shaped as hosted Realtime's
 * `apply_rls` output: only columns the role may SELECT; `record` for INSERT/UPDATE; `old_record`
 * with the replica identity for UPDATE and DELETE, reduced to the primary key for a DELETE on a
 * table with row-level security; over `max_record_bytes`, a 413 error and only the small values.
 */
export function changePayload(info: TableInfo, change: RowChange, role: Role): Row {
  const visible = info.columns.filter((column) => column.selectableBy[role]);
  const names = new Set(visible.map((column) => column.name));
  const tooLarge =
    Buffer.byteLength(JSON.stringify({ record: change.record, old: change.oldRecord })) > MAX_RECORD_BYTES;
  const shape = (row: Row) => (tooLarge ? dropLargeValues(row) : row);
  const data: Row = {
    schema: change.schema,
    table: change.table,
    commit_timestamp: change.commitTimestamp,
    type: change.type,
    columns: visible.map((column) => ({ name: column.name, type: column.type })),
    errors: tooLarge ? ["Error 413: Payload Too Large"] : null,
  };
  if (change.type !== "DELETE") {
    data.record = shape(pick(change.record, names));
  }
  if (change.type === "UPDATE") {
    data.old_record = shape(pick(identityOf(info, change.oldRecord), names));
  } else if (change.type === "DELETE") {
    const identity = pick(identityOf(info, change.oldRecord), names);
    const keys = new Set(info.columns.filter((column) => column.isPrimaryKey).map((column) => column.name));
    data.old_record = shape(info.rowLevelSecurity ? pick(identity, keys) : identity);
  }
  return data;
}
