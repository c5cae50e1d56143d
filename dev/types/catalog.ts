import { sql } from "drizzle-orm";
import { rowsOf, type SqlEngine } from "../../lib/db/client";

/**
 * What the type generator reads from the PostgreSQL catalog: the same facts postgres-meta's typegen
 * (behind `supabase gen types typescript`) reads, from the same catalog columns, so the two agree on
 * what is nullable, defaulted, an identity, an enum, a relationship or an exposed function.
 */
export interface Relation {
  id: number;
  schema: string;
  name: string;
  kind: "table" | "view" | "materialized_view" | "foreign_table";
  /** Views: PostgREST may insert and update through it (information_schema's definition). */
  updatable: boolean;
}

export interface Column {
  relationId: number;
  name: string;
  /** The type's name (`_text` for text[]); a domain's base type, as postgres-meta reports it. */
  format: string;
  nullable: boolean;
  /** A default, or a generated column's expression (both make the column optional on insert). */
  hasDefault: boolean;
  identity: "ALWAYS" | "BY DEFAULT" | null;
  updatable: boolean;
}

export interface ForeignKey {
  name: string;
  schema: string;
  relation: string;
  columns: string[];
  referencedSchema: string;
  referencedRelation: string;
  referencedColumns: string[];
  /** The referencing columns are, in order, the table's primary key or a unique key. */
  oneToOne: boolean;
}

export interface PgType {
  id: number;
  name: string;
  schema: string;
  enums: string[];
  attributes: { name: string; typeId: number }[];
  relationId: number | null;
}

export interface FunctionArg {
  mode: "in" | "out" | "inout" | "variadic" | "table";
  name: string;
  typeId: number;
  hasDefault: boolean;
}

export interface PgFunction {
  id: number;
  schema: string;
  name: string;
  args: FunctionArg[];
  /** `pg_get_function_arguments`: how a computed field (one unnamed row argument) is recognised. */
  argumentTypes: string;
  returnTypeId: number;
  returnType: string;
  returnRelationId: number | null;
  setReturning: boolean;
  /** The planner's row estimate of a set-returning function (ROWS n), else null. */
  rows: number | null;
}

export interface Catalog {
  schemas: string[];
  relations: Relation[];
  columns: Column[];
  foreignKeys: ForeignKey[];
  types: PgType[];
  functions: PgFunction[];
}

type Query = (text: string) => Promise<unknown>;

/** Each query answers one row with one json text column, so postgres.js and PGlite parse alike. */
export function engineQuery(engine: SqlEngine): Query {
  return async (text) => {
    const [row] = rowsOf<{ data: string }>(await engine.db.execute(sql.raw(text)));
    return JSON.parse(row?.data ?? "[]");
  };
}

const literal = (value: string) => `'${value.replace(/'/g, "''")}'`;

export async function readCatalog(query: Query, schemas: string[]): Promise<Catalog> {
  const inSchemas = `(${schemas.map(literal).join(", ")})`;
  const aggregate = (select: string) => `select coalesce(json_agg(x), '[]')::text as data from (${select}) x`;

  const relations = (await query(
    aggregate(`
      select c.oid::int8 as id, n.nspname as schema, c.relname as name,
        case c.relkind when 'r' then 'table' when 'p' then 'table' when 'v' then 'view'
          when 'm' then 'materialized_view' else 'foreign_table' end as kind,
        c.relkind = 'v' and (pg_relation_is_updatable(c.oid, false) & 20) = 20 as updatable
      from pg_class c join pg_namespace n on n.oid = c.relnamespace
      where n.nspname in ${inSchemas} and c.relkind in ('r', 'p', 'v', 'm', 'f')`),
  )) as Relation[];

  const columns = (await query(
    aggregate(`
      select c.oid::int8 as "relationId", a.attname as name,
        coalesce(bt.typname, t.typname) as format,
        not (a.attnotnull or (t.typtype = 'd' and t.typnotnull)) as nullable,
        a.atthasdef as "hasDefault",
        case a.attidentity when 'a' then 'ALWAYS' when 'd' then 'BY DEFAULT' end as identity,
        c.relkind in ('r', 'p')
          or (c.relkind in ('v', 'f') and pg_column_is_updatable(c.oid, a.attnum, false)) as updatable
      from pg_attribute a
        join pg_class c on c.oid = a.attrelid
        join pg_namespace n on n.oid = c.relnamespace
        join pg_type t on t.oid = a.atttypid
        left join pg_type bt on t.typtype = 'd' and bt.oid = t.typbasetype
      where n.nspname in ${inSchemas} and c.relkind in ('r', 'p', 'v', 'm', 'f')
        and a.attnum > 0 and not a.attisdropped`),
  )) as Column[];

  // Foreign keys declared on the schemas' tables (partitions' inherited copies left out), each
  // with its column pairs in constraint order; one-to-one when those columns are a key of the table.
  const foreignKeys = (await query(
    aggregate(`
      select f.conname as name, n.nspname as schema, c.relname as relation,
        rn.nspname as "referencedSchema", r.relname as "referencedRelation",
        (select json_agg(a.attname order by k.ord) from unnest(f.conkey) with ordinality k(num, ord)
          join pg_attribute a on a.attrelid = f.conrelid and a.attnum = k.num) as columns,
        (select json_agg(a.attname order by k.ord) from unnest(f.confkey) with ordinality k(num, ord)
          join pg_attribute a on a.attrelid = f.confrelid and a.attnum = k.num) as "referencedColumns",
        exists (
          select from pg_constraint u
          where u.conrelid = f.conrelid and u.contype in ('p', 'u')
            and (select array_agg(a.attname::text order by a.attnum) from unnest(u.conkey) k(num)
                  join pg_attribute a on a.attrelid = u.conrelid and a.attnum = k.num)
              = (select array_agg(a.attname::text order by k.ord) from unnest(f.conkey) with ordinality k(num, ord)
                  join pg_attribute a on a.attrelid = f.conrelid and a.attnum = k.num)
        ) as "oneToOne"
      from pg_constraint f
        join pg_class c on c.oid = f.conrelid
        join pg_namespace n on n.oid = f.connamespace
        join pg_class r on r.oid = f.confrelid
        join pg_namespace rn on rn.oid = r.relnamespace
      where f.contype = 'f' and f.conparentid = 0 and n.nspname in ${inSchemas}`),
  )) as ForeignKey[];

  // Every type (a column's enum may live in another schema); arrays and row types included, as
  // the generator resolves a type by name.
  const types = (await query(
    aggregate(`
      select t.oid::int8 as id, t.typname as name, n.nspname as schema,
        coalesce((select json_agg(e.enumlabel order by e.enumsortorder) from pg_enum e
          where e.enumtypid = t.oid), '[]') as enums,
        coalesce((select json_agg(json_build_object('name', a.attname, 'typeId', a.atttypid::int8)
            order by a.attnum)
          from pg_class c join pg_attribute a on a.attrelid = c.oid
          where c.oid = t.typrelid and c.relkind = 'c' and a.attnum > 0 and not a.attisdropped), '[]')
          as attributes,
        nullif(t.typrelid::int8, 0) as "relationId"
      from pg_type t join pg_namespace n on n.oid = t.typnamespace
      where t.typrelid = 0
        or (select c.relkind in ('c', 'r', 'v', 'm', 'p') from pg_class c where c.oid = t.typrelid)`),
  )) as PgType[];

  // Plain functions (no procedures, aggregates or window functions). Trigger functions are dropped
  // below: PostgREST cannot call them. Mode, name and default per argument, defaults being the
  // last pronargdefaults of the input arguments.
  const functions = (await query(
    aggregate(`
      select p.oid::int8 as id, n.nspname as schema, p.proname as name,
        coalesce((
          select json_agg(json_build_object(
            'mode', case a.mode when 'i' then 'in' when 'o' then 'out' when 'b' then 'inout'
              when 'v' then 'variadic' else 'table' end,
            'name', coalesce(a.name, ''),
            'typeId', a.type_id::int8,
            'inputIndex', a.ord) order by a.ord)
          from unnest(
            coalesce(p.proallargtypes, p.proargtypes::oid[]),
            coalesce(p.proargmodes, array_fill('i'::"char", array[cardinality(p.proargtypes::oid[])])),
            coalesce(p.proargnames, array_fill(''::text, array[cardinality(coalesce(p.proallargtypes, p.proargtypes::oid[]))]))
          ) with ordinality a(type_id, mode, name, ord)), '[]') as args,
        p.pronargs as "inputCount", p.pronargdefaults as "defaultCount",
        pg_get_function_arguments(p.oid) as "argumentTypes",
        p.prorettype::int8 as "returnTypeId",
        pg_get_function_result(p.oid) as "returnType",
        nullif(rt.typrelid::int8, 0) as "returnRelationId",
        p.proretset as "setReturning",
        case when p.proretset then nullif(p.prorows, 0) end as rows,
        rt.typname as "returnTypeName"
      from pg_proc p
        join pg_namespace n on n.oid = p.pronamespace
        left join pg_type rt on rt.oid = p.prorettype
      where n.nspname in ${inSchemas} and p.prokind = 'f'`),
  )) as (Omit<PgFunction, "args"> & {
    args: (Omit<FunctionArg, "hasDefault"> & { inputIndex: number })[];
    inputCount: number;
    defaultCount: number;
    returnTypeName: string | null;
  })[];

  return {
    schemas,
    relations,
    columns,
    foreignKeys,
    types,
    functions: functions
      .filter((fn) => fn.returnTypeName !== "trigger" && fn.returnTypeName !== "event_trigger")
      .map(({ inputCount, defaultCount, returnTypeName: _, args, ...fn }) => {
        // Defaults belong to the last `defaultCount` input arguments (IN, INOUT, VARIADIC).
        let input = 0;
        return {
          ...fn,
          args: args.map(({ inputIndex: _index, ...arg }) => {
            const isInput = arg.mode === "in" || arg.mode === "inout" || arg.mode === "variadic";
            const hasDefault = isInput && input++ >= inputCount - defaultCount;
            return { ...arg, hasDefault };
          }),
        };
      }),
  };
}
