import { sql } from "drizzle-orm";
import { rowsOf, type SqlEngine } from "../../../lib/db/client";
import { asCaller, type Caller } from "../caller";

/**
 * PostgREST's schema cache for the one exposed schema, `public`: its tables and views with their
 * columns, keys and foreign keys. Read from pg_catalog (information_schema hides what the reading
 * role has no privilege on; PostgREST's cache does not depend on the caller either), once per
 * database engine, and again on `reloadSchemaCache()` (PostgREST's `NOTIFY pgrst, 'reload schema'`).
 */
export interface Column {
  name: string;
  /** `format_type()`: a type name PostgreSQL parses back, used to type bound values. */
  type: string;
  notNull: boolean;
  hasDefault: boolean;
  /**
   * The expression `DEFAULT` stands for in an INSERT (the column's default, else its domain's), as
   * pg_get_expr() deparses it: catalog text, inlined where a row of a bulk insert lacks the column.
   * An identity column's is `nextval()` of its sequence; a generated column has none.
   */
  defaultSql: string | null;
  /** `always` (GENERATED ALWAYS AS IDENTITY) and `generated` (stored) columns take no value but DEFAULT. */
  defaultOnly: boolean;
}

export interface ForeignKey {
  name: string;
  table: string;
  columns: string[];
  foreignTable: string;
  foreignColumns: string[];
}

export interface Table {
  name: string;
  kind: "table" | "view";
  columns: Map<string, Column>;
  primaryKey: string[];
  /** Primary key and unique constraints, for one-to-one detection. */
  uniqueKeys: string[][];
}

export interface SchemaCache {
  tables: Map<string, Table>;
  foreignKeys: ForeignKey[];
}

/** The catalog is read as the service role: the same answer whoever asks first. */
const catalogReader: Caller = { role: "service_role", claims: { role: "service_role" } };

async function loadSchema(): Promise<SchemaCache> {
  return asCaller(catalogReader, async (tx) => {
    const columns = rowsOf<{
      table_name: string;
      relkind: string;
      column_name: string;
      column_type: string;
      not_null: boolean;
      has_default: boolean;
      default_sql: string | null;
      default_only: boolean;
    }>(
      await tx.execute(sql`
        select c.relname as table_name, c.relkind::text as relkind, a.attname as column_name,
          format_type(a.atttypid, a.atttypmod) as column_type, a.attnotnull as not_null,
          (a.atthasdef or a.attidentity <> '') as has_default,
          case
            when a.attgenerated <> '' then null
            when a.attidentity <> '' then format('nextval(%L::regclass)',
              pg_catalog.pg_get_serial_sequence(format('%I.%I', n.nspname, c.relname), a.attname))
            else coalesce(pg_catalog.pg_get_expr(d.adbin, d.adrelid),
              (select pg_catalog.pg_get_expr(t.typdefaultbin, 0) from pg_catalog.pg_type t
                where t.oid = a.atttypid and t.typtype = 'd'))
          end as default_sql,
          (a.attgenerated <> '' or a.attidentity = 'a') as default_only
        from pg_catalog.pg_class c
        join pg_catalog.pg_namespace n on n.oid = c.relnamespace
        join pg_catalog.pg_attribute a on a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped
        left join pg_catalog.pg_attrdef d on d.adrelid = a.attrelid and d.adnum = a.attnum
        where n.nspname = 'public' and c.relkind in ('r', 'p', 'v', 'm', 'f')
        order by c.relname, a.attnum`),
    );
    const constraints = rowsOf<{
      name: string;
      contype: string;
      table_name: string;
      foreign_table: string | null;
      columns: string;
      foreign_columns: string;
    }>(
      await tx.execute(sql`
        select con.conname as name, con.contype::text as contype, rel.relname as table_name,
          frel.relname as foreign_table,
          to_json(array(
            select a.attname::text from unnest(con.conkey) with ordinality k(num, ord)
            join pg_catalog.pg_attribute a on a.attrelid = con.conrelid and a.attnum = k.num
            order by k.ord))::text as columns,
          to_json(array(
            select a.attname::text from unnest(coalesce(con.confkey, '{}')) with ordinality k(num, ord)
            join pg_catalog.pg_attribute a on a.attrelid = con.confrelid and a.attnum = k.num
            order by k.ord))::text as foreign_columns
        from pg_catalog.pg_constraint con
        join pg_catalog.pg_class rel on rel.oid = con.conrelid
        join pg_catalog.pg_namespace n on n.oid = rel.relnamespace
        left join pg_catalog.pg_class frel on frel.oid = con.confrelid
        left join pg_catalog.pg_namespace fn on fn.oid = frel.relnamespace
        where n.nspname = 'public' and con.contype in ('p', 'u', 'f')
          and (con.contype <> 'f' or fn.nspname = 'public')
        order by con.conname`),
    );
    const tables = new Map<string, Table>();
    for (const row of columns) {
      let table = tables.get(row.table_name);
      if (!table) {
        table = {
          name: row.table_name,
          kind: row.relkind === "v" || row.relkind === "m" ? "view" : "table",
          columns: new Map(),
          primaryKey: [],
          uniqueKeys: [],
        };
        tables.set(row.table_name, table);
      }
      table.columns.set(row.column_name, {
        name: row.column_name,
        type: row.column_type,
        notNull: row.not_null,
        hasDefault: row.has_default,
        defaultSql: row.default_sql,
        defaultOnly: row.default_only,
      });
    }
    const foreignKeys: ForeignKey[] = [];
    for (const row of constraints) {
      const cols = JSON.parse(row.columns) as string[];
      const table = tables.get(row.table_name);
      if (!table) {
        continue;
      }
      if (row.contype === "p") {
        table.primaryKey = cols;
        table.uniqueKeys.push(cols);
      } else if (row.contype === "u") {
        table.uniqueKeys.push(cols);
      } else if (row.foreign_table && tables.has(row.foreign_table)) {
        foreignKeys.push({
          name: row.name,
          table: row.table_name,
          columns: cols,
          foreignTable: row.foreign_table,
          foreignColumns: JSON.parse(row.foreign_columns) as string[],
        });
      }
    }
    return { tables, foreignKeys };
  });
}

const caches = new WeakMap<SqlEngine, Promise<SchemaCache>>();

/** The cache for the engine in use; loaded on first use. */
export function schemaCache(engine: SqlEngine): Promise<SchemaCache> {
  let cache = caches.get(engine);
  if (!cache) {
    cache = loadSchema();
    caches.set(engine, cache);
    cache.catch(() => caches.delete(engine));
  }
  return cache;
}

/** Drops the cache so the next request reads the catalog again (after a migration, say). */
export function reloadSchemaCache(engine: SqlEngine): void {
  caches.delete(engine);
}

/** The closest table name, for PGRST205's hint (PostgREST suggests one the same way). */
export function suggestTable(cache: SchemaCache, name: string): string | undefined {
  let best: string | undefined;
  let bestDistance = Number.POSITIVE_INFINITY;
  const limit = Math.max(2, Math.floor(name.length / 3));
  for (const candidate of cache.tables.keys()) {
    const distance = levenshtein(name.toLowerCase(), candidate.toLowerCase());
    if (distance < bestDistance && distance <= limit) {
      best = candidate;
      bestDistance = distance;
    }
  }
  return best;
}

function levenshtein(a: string, b: string): number {
  if (a.length > 64 || b.length > 64) {
    return Number.POSITIVE_INFINITY;
  }
  let previous = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      current.push(
        Math.min((previous[j] ?? 0) + 1, (current[j - 1] ?? 0) + 1, (previous[j - 1] ?? 0) + cost),
      );
    }
    previous = current;
  }
  return previous[b.length] ?? Number.POSITIVE_INFINITY;
}
