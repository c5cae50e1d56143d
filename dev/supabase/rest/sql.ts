import { type SQL, sql } from "drizzle-orm";
import { columnNotFound, PgrstError, parseError } from "./errors";
import type { Condition, Field, Filter, Level, ParsedQuery, SelectItem } from "./parse";
import type { Column, ForeignKey, SchemaCache, Table } from "./schema";

/**
 * Statements built from a parsed request, shaped as PostgREST shapes them: the rows are selected in
 * a subquery and aggregated with `json_agg` in the database, embedded resources are correlated
 * subqueries (so row-level security and column privileges of the embedded table apply as they do for
 * PostgREST), and mutations run in a `pgrst_source` CTE whose RETURNING feeds the same aggregation.
 * Identifiers come from the catalog only; every value from the request is a bound parameter, typed by
 * a cast to the catalog's type of the column it is compared with.
 */

const join = (parts: SQL[], separator: string): SQL => sql.join(parts, sql.raw(separator));
const ident = (name: string): SQL => sql`${sql.identifier(name)}`;
const tableRef = (table: Table): SQL => sql`${ident("public")}.${ident(table.name)}`;
/** A type name from pg_catalog's format_type(): catalog text, never request text. */
const typeName = (type: string): SQL => sql.raw(type);

/** Casts `select=col::type` may name: common scalar types that cannot fail by themselves. */
const castTypes: Record<string, string> = {
  text: "text",
  varchar: "varchar",
  int: "integer",
  int4: "integer",
  integer: "integer",
  int2: "smallint",
  smallint: "smallint",
  int8: "bigint",
  bigint: "bigint",
  numeric: "numeric",
  float4: "real",
  float8: "double precision",
  real: "real",
  bool: "boolean",
  boolean: "boolean",
  json: "json",
  jsonb: "jsonb",
  uuid: "uuid",
  date: "date",
  timestamptz: "timestamptz",
  timestamp: "timestamp",
  time: "time",
};

interface Context {
  cache: SchemaCache;
  query: ParsedQuery;
  aliases: number;
}

function nextAlias(ctx: Context): string {
  ctx.aliases += 1;
  return `pgrst_${ctx.aliases}`;
}

export function newContext(cache: SchemaCache, query: ParsedQuery): Context {
  return { cache, query, aliases: 0 };
}

// --- fields and filters -------------------------------------------------------------------------------

interface FieldSql {
  expr: SQL;
  /** The type a compared value is cast to. */
  type: string;
  column: Column;
}

function column(table: Table, name: string): Column {
  const found = table.columns.get(name);
  if (!found) {
    throw columnNotFound(table.name, name);
  }
  return found;
}

function fieldSql(table: Table, alias: string, field: Field): FieldSql {
  const col = column(table, field.name);
  let expr = sql`${ident(alias)}.${ident(col.name)}`;
  let type = col.type;
  for (const step of field.json) {
    const key = /^-?\d+$/.test(step.key) ? sql`(${Number(step.key)})::integer` : sql`(${step.key})::text`;
    expr = step.arrow === "->" ? sql`(${expr} -> ${key})` : sql`(${expr} ->> ${key})`;
    type = step.arrow === "->>" ? "text" : col.type === "json" ? "json" : "jsonb";
  }
  return { expr, type, column: col };
}

const comparison: Record<string, string> = {
  eq: "=",
  neq: "<>",
  gt: ">",
  gte: ">=",
  lt: "<",
  lte: "<=",
  like: "like",
  ilike: "ilike",
  match: "~",
  imatch: "~*",
  cs: "@>",
  cd: "<@",
  ov: "&&",
  sl: "<<",
  sr: ">>",
  nxr: "&<",
  nxl: "&>",
  adj: "-|-",
};

const textSearchFunctions: Record<string, string> = {
  fts: "to_tsquery",
  plfts: "plainto_tsquery",
  phfts: "phraseto_tsquery",
  wfts: "websearch_to_tsquery",
};

/** PostgREST lets `*` stand for `%` in like patterns (a `%` is awkward in a URL). */
function likePattern(op: string, value: string): string {
  return op === "like" || op === "ilike" ? value.replaceAll("*", "%") : value;
}

function filterSql(f: FieldSql, filter: Filter): SQL {
  const { op } = filter;
  const textOps = op === "like" || op === "ilike" || op === "match" || op === "imatch";
  const valueType = textOps ? "text" : f.type;
  const bound = (value: string): SQL => sql`(${likePattern(op, value)})::${typeName(valueType)}`;
  let condition: SQL;
  if (op === "is") {
    const word = filter.value.toLowerCase();
    const tail = { null: "null", not_null: "not null", true: "true", false: "false", unknown: "unknown" }[
      word
    ];
    if (!tail) {
      throw parseError("filter", filter.value, "expecting null, not_null, true, false or unknown");
    }
    condition = sql`${f.expr} is ${sql.raw(tail)}`;
  } else if (op === "isdistinct") {
    condition = sql`${f.expr} is distinct from ${bound(filter.value)}`;
  } else if (op === "in") {
    const list = filter.list ?? [];
    condition =
      list.length === 0
        ? sql`false`
        : sql`${f.expr} in (${join(
            list.map((v) => bound(v)),
            ", ",
          )})`;
  } else if (filter.quantifier) {
    const list = filter.list ?? [];
    const operator = comparison[op];
    if (!operator) {
      throw parseError("filter", op, "an operator that takes (any) or (all)");
    }
    const values = list.length === 0 ? sql`` : join(list.map(bound), ", ");
    const quantifier = filter.quantifier === "any" ? sql`any` : sql`all`;
    condition = sql`${f.expr} ${sql.raw(operator)} ${quantifier} (array[${values}]::${typeName(valueType)}[])`;
  } else if (op in textSearchFunctions) {
    const fn = sql.raw(textSearchFunctions[op] ?? "to_tsquery");
    const config = filter.config === undefined ? undefined : sql`(${filter.config})::regconfig`;
    const vector =
      f.type === "tsvector"
        ? f.expr
        : config
          ? sql`to_tsvector(${config}, ${f.expr})`
          : sql`to_tsvector(${f.expr})`;
    const queryValue = sql`(${filter.value})::text`;
    condition = config
      ? sql`${vector} @@ ${fn}(${config}, ${queryValue})`
      : sql`${vector} @@ ${fn}(${queryValue})`;
  } else {
    const operator = comparison[op];
    if (!operator) {
      throw parseError("filter", op, "a known operator");
    }
    condition = sql`${f.expr} ${sql.raw(operator)} ${bound(filter.value)}`;
  }
  return filter.negate ? sql`not (${condition})` : condition;
}

// --- relationships -----------------------------------------------------------------------------------

export interface Relationship {
  fk: ForeignKey;
  target: Table;
  cardinality: "many-to-one" | "one-to-many" | "one-to-one";
  /** Pairs (source column, target column) the correlated subquery joins on. */
  pairs: [string, string][];
}

function zip(a: string[], b: string[]): [string, string][] {
  return a.map((value, i) => [value, b[i] ?? ""]);
}

function describe(rel: Relationship, source: string): Record<string, string> {
  return {
    cardinality: rel.cardinality,
    embedding: `${source} with ${rel.target.name}`,
    relationship: `${rel.fk.name} using ${rel.fk.table}(${rel.fk.columns.join(", ")}) and ${rel.fk.foreignTable}(${rel.fk.foreignColumns.join(", ")})`,
  };
}

/** Resolves `target[!hint]` from `source` as PostgREST does: PGRST200 for none, PGRST201 for several. */
export function findRelationship(
  cache: SchemaCache,
  source: Table,
  target: string,
  hint: string | undefined,
): Relationship {
  const candidates: Relationship[] = [];
  for (const fk of cache.foreignKeys) {
    const targetsByName = fk.foreignTable === target || (fk.name === target && fk.table === source.name);
    if (fk.table === source.name && targetsByName) {
      const table = cache.tables.get(fk.foreignTable);
      if (table) {
        candidates.push({
          fk,
          target: table,
          cardinality: "many-to-one",
          pairs: zip(fk.columns, fk.foreignColumns),
        });
      }
    }
    if (fk.foreignTable === source.name && fk.table === target) {
      const table = cache.tables.get(fk.table);
      if (table) {
        const unique = table.uniqueKeys.some(
          (key) => key.length === fk.columns.length && key.every((c) => fk.columns.includes(c)),
        );
        candidates.push({
          fk,
          target: table,
          cardinality: unique ? "one-to-one" : "one-to-many",
          pairs: zip(fk.foreignColumns, fk.columns),
        });
      }
    }
  }
  const matching =
    hint === undefined
      ? candidates
      : candidates.filter(
          (rel) =>
            rel.fk.name === hint || rel.fk.columns.includes(hint) || rel.fk.foreignColumns.includes(hint),
        );
  if (matching.length === 1 && matching[0]) {
    return matching[0];
  }
  if (matching.length === 0) {
    const using = hint === undefined ? "" : ` using the hint '${hint}'`;
    throw new PgrstError(
      400,
      "PGRST200",
      `Could not find a relationship between '${source.name}' and '${target}' in the schema cache`,
      `Searched for a foreign key relationship between '${source.name}' and '${target}'${using} in the schema 'public', but no matches were found.`,
    );
  }
  throw new PgrstError(
    300,
    "PGRST201",
    `Could not embed because more than one relationship was found for '${source.name}' and '${target}'`,
    matching.map((rel) => describe(rel, source.name)),
    `Try changing '${target}' to one of the following: ${matching
      .map((rel) => `'${target}!${rel.fk.name}'`)
      .join(", ")}. Find the desired relationship in the 'details' key.`,
  );
}

// --- levels (the top level and each embedded resource) ------------------------------------------------

interface EmbedSql {
  key: string;
  rel: Relationship;
  alias: string;
  child: LevelSql;
  inner: boolean;
  /** Whether the embedding appears in the output (`rel()` with nothing selected does not). */
  shown: boolean;
}

export interface LevelSql {
  table: Table;
  alias: string;
  /** `expr as "key"` items; empty for `select=`. */
  columns: SQL[];
  /** Columns of this level's table the select list reads (for a mutation's RETURNING). */
  reads: Set<string> | "all";
  /** The level's own filters. */
  filters: SQL[];
  /** `!inner` embeddings and `rel=not.is.null` filters: conditions on this level's rows. */
  embedFilters: SQL[];
  order: SQL[];
  limit?: number;
  offset?: number;
}

function levelFor(ctx: Context, path: string[]): Level | undefined {
  return ctx.query.levels.get(path.join("."));
}

function outputName(item: Extract<SelectItem, { kind: "column" }>): string {
  if (item.alias) {
    return item.alias;
  }
  const last = item.field.json[item.field.json.length - 1];
  return last ? last.key : item.field.name;
}

function whereOf(parts: SQL[]): SQL {
  return parts.length === 0 ? sql`true` : join(parts, " and ");
}

function embedSubquery(embed: EmbedSql, parentAlias: string, forExists: boolean): SQL {
  const { rel, alias, child } = embed;
  const on = rel.pairs.map(
    ([sourceCol, targetCol]) =>
      sql`${ident(alias)}.${ident(targetCol)} = ${ident(parentAlias)}.${ident(sourceCol)}`,
  );
  const where = whereOf([...on, ...child.filters, ...child.embedFilters]);
  const from = sql`${tableRef(rel.target)} as ${ident(alias)}`;
  if (forExists) {
    return sql`exists (select 1 from ${from} where ${where})`;
  }
  const row = ident(`${alias}_row`);
  const list = join(child.columns, ", ");
  if (rel.cardinality === "one-to-many") {
    const order = child.order.length > 0 ? sql` order by ${join(child.order, ", ")}` : sql``;
    const limit = child.limit === undefined ? sql`` : sql` limit (${child.limit})::bigint`;
    const offset = child.offset === undefined ? sql`` : sql` offset (${child.offset})::bigint`;
    return sql`(select coalesce(json_agg(${row}), '[]'::json) from (select ${list} from ${from} where ${where}${order}${limit}${offset}) ${row})`;
  }
  return sql`(select row_to_json(${row}) from (select ${list} from ${from} where ${where} limit 1) ${row})`;
}

function conditionSql(
  ctx: Context,
  table: Table,
  alias: string,
  condition: Condition,
  embeds: EmbedSql[],
): SQL {
  if (condition.kind === "logic") {
    const parts = condition.children.map((child) => conditionSql(ctx, table, alias, child, embeds));
    const joined = sql`(${join(parts, condition.op === "and" ? " and " : " or ")})`;
    return condition.negate ? sql`not ${joined}` : joined;
  }
  const embed = embeds.find((e) => e.key === condition.field.name);
  if (embed && !table.columns.has(condition.field.name) && condition.field.json.length === 0) {
    // `rel=is.null` / `rel=not.is.null`: rows with (or without) a matching embedded row.
    const word = condition.value.toLowerCase();
    if (condition.op !== "is" || (word !== "null" && word !== "not_null")) {
      throw new PgrstError(
        400,
        "PGRST120",
        "An embedded resource can only be filtered using the is.null or not.is.null operators.",
        `Only is null or not is null filters are allowed on embedded resources`,
      );
    }
    const exists = embedSubquery(embed, alias, true);
    const wantsRow = (word === "not_null") !== condition.negate;
    return wantsRow ? exists : sql`not ${exists}`;
  }
  return filterSql(fieldSql(table, alias, condition.field), condition);
}

/** Compiles one level: its select list (recursing into embeddings), filters, order and range. */
export function compileLevel(
  ctx: Context,
  table: Table,
  alias: string,
  items: SelectItem[],
  path: string[],
): LevelSql {
  const columns: SQL[] = [];
  let reads: Set<string> | "all" = new Set();
  const embeds: EmbedSql[] = [];
  for (const item of items) {
    if (item.kind === "star") {
      columns.push(sql`${ident(alias)}.*`);
      reads = "all";
    } else if (item.kind === "column") {
      const f = fieldSql(table, alias, item.field);
      let expr = f.expr;
      if (item.cast !== undefined) {
        const cast = castTypes[item.cast];
        if (!cast) {
          throw parseError(
            "select parameter",
            item.cast,
            `a cast to one of ${Object.keys(castTypes).join(", ")} (the local PostgREST allows no others)`,
          );
        }
        expr = sql`(${expr})::${typeName(cast)}`;
      }
      columns.push(sql`${expr} as ${ident(outputName(item))}`);
      if (reads !== "all") {
        reads.add(f.column.name);
      }
    } else {
      const rel = findRelationship(ctx.cache, table, item.target, item.hint);
      const key = item.alias ?? item.target;
      const childAlias = nextAlias(ctx);
      // Embedded filters and modifiers are keyed by the alias when there is one, else by the name.
      const childPath = levelFor(ctx, [...path, key]) ? [...path, key] : [...path, item.target];
      const child = compileLevel(ctx, rel.target, childAlias, item.items, childPath);
      const embed: EmbedSql = {
        key,
        rel,
        alias: childAlias,
        child,
        inner: item.inner,
        shown: item.items.length > 0,
      };
      embeds.push(embed);
      if (embed.shown) {
        columns.push(sql`${embedSubquery(embed, alias, false)} as ${ident(key)}`);
      }
      if (reads !== "all") {
        for (const [sourceCol] of rel.pairs) {
          reads.add(sourceCol);
        }
      }
    }
  }
  const level = levelFor(ctx, path);
  const filters: SQL[] = [];
  const embedFilters: SQL[] = embeds.filter((e) => e.inner).map((e) => embedSubquery(e, alias, true));
  for (const condition of level?.conditions ?? []) {
    const built = conditionSql(ctx, table, alias, condition, embeds);
    const onEmbed =
      condition.kind === "filter" &&
      embeds.some((e) => e.key === condition.field.name) &&
      !table.columns.has(condition.field.name);
    (onEmbed ? embedFilters : filters).push(built);
  }
  const order = (level?.order ?? []).map((term) => {
    const f = fieldSql(table, alias, term.field);
    const direction = term.desc ? sql` desc` : sql` asc`;
    const nulls =
      term.nulls === "first" ? sql` nulls first` : term.nulls === "last" ? sql` nulls last` : sql``;
    return sql`${f.expr}${direction}${nulls}`;
  });
  return {
    table,
    alias,
    columns,
    reads,
    filters,
    embedFilters,
    order,
    limit: level?.limit,
    offset: level?.offset,
  };
}

/** Filters keyed by an embedded resource the select does not embed: PGRST108, as PostgREST answers. */
export function checkEmbeddedKeys(query: ParsedQuery): void {
  const known = new Set<string>([""]);
  const walk = (items: SelectItem[], prefix: string[]) => {
    for (const item of items) {
      if (item.kind === "embed") {
        for (const name of new Set([item.alias ?? item.target, item.target])) {
          const path = [...prefix, name];
          known.add(path.join("."));
          walk(item.items, path);
        }
      }
    }
  };
  walk(query.select, []);
  for (const key of query.levels.keys()) {
    if (!known.has(key)) {
      throw new PgrstError(
        400,
        "PGRST108",
        `'${key}' is not an embedded resource in this request`,
        null,
        `Verify that '${key}' is included in the 'select' query parameter.`,
      );
    }
  }
}

// --- statements --------------------------------------------------------------------------------------

/** Every statement answers one row of this shape. */
export interface ResultRow {
  total: string | null;
  page_total: string;
  body: string;
  first: string | null;
}

function aggregate(source: SQL, level: LevelSql, total: SQL, stripNulls: boolean, tail: SQL): SQL {
  const list = join(level.columns, ", ");
  const t = ident("pgrst_t");
  const body = stripNulls
    ? sql`json_strip_nulls(coalesce(json_agg(${t}), '[]'::json))`
    : sql`coalesce(json_agg(${t}), '[]'::json)`;
  return sql`select ${total} as total, count(*)::text as page_total, ${body}::text as body,
    (${body} -> 0)::text as first
    from (select ${list} from ${source}${tail}) ${t}`;
}

export interface ReadOptions {
  count: boolean;
  offset: number;
  limit?: number;
  stripNulls: boolean;
}

export function readStatement(level: LevelSql, options: ReadOptions): SQL {
  const from = sql`${tableRef(level.table)} as ${ident(level.alias)}`;
  const where = whereOf([...level.filters, ...level.embedFilters]);
  const total = options.count ? sql`(select count(*) from ${from} where ${where})::text` : sql`null::text`;
  const order = level.order.length > 0 ? sql` order by ${join(level.order, ", ")}` : sql``;
  const limit = options.limit === undefined ? sql`` : sql` limit (${options.limit})::bigint`;
  const offset = options.offset > 0 ? sql` offset (${options.offset})::bigint` : sql``;
  return aggregate(from, level, total, options.stripNulls, sql` where ${where}${order}${limit}${offset}`);
}

export interface MutationOptions {
  /** What RETURNING lists: the select's columns, the primary key (headers-only), or nothing. */
  returning: "representation" | "key" | "none";
  stripNulls: boolean;
}

function returningList(level: LevelSql, options: MutationOptions): SQL {
  const target = ident(level.alias);
  if (options.returning === "none") {
    // RETURNING 1 reads no column, so it needs no SELECT privilege or policy, as PostgREST's.
    return sql`returning 1`;
  }
  if (options.returning === "key") {
    const key = level.table.primaryKey;
    return key.length === 0
      ? sql`returning 1`
      : sql`returning ${join(
          key.map((c) => sql`${target}.${ident(c)}`),
          ", ",
        )}`;
  }
  if (level.reads === "all") {
    return sql`returning ${target}.*`;
  }
  const reads = [...level.reads];
  return reads.length === 0
    ? sql`returning 1`
    : sql`returning ${join(
        reads.map((c) => sql`${target}.${ident(c)}`),
        ", ",
      )}`;
}

function wrapMutation(mutation: SQL, level: LevelSql, options: MutationOptions): SQL {
  const source = ident("pgrst_source");
  let shown = level;
  if (options.returning === "key") {
    shown = {
      ...level,
      columns: level.table.primaryKey.map((c) => sql`${ident(level.alias)}.${ident(c)}`),
    };
  } else if (options.returning === "none") {
    shown = { ...level, columns: [] };
  }
  return sql`with ${source} as (${mutation}) ${aggregate(
    sql`${source} as ${ident(level.alias)}`,
    shown,
    sql`null::text`,
    options.stripNulls,
    sql``,
  )}`;
}

/** `name type, …`: the column definition list `json_to_record(set)` reads the body's keys with. */
function definitions(table: Table, columns: string[]): SQL {
  return join(
    columns.map((name) => sql`${ident(name)} ${typeName(column(table, name).type)}`),
    ", ",
  );
}

export interface InsertOptions extends MutationOptions {
  rows: Record<string, unknown>[];
  columns: string[];
  missingDefault: boolean;
  resolution?: "merge-duplicates" | "ignore-duplicates";
  onConflict?: string[];
}

/**
 * The body is one bound parameter, read as a record set in the database (PostgREST's
 * `json_to_recordset`), never one parameter per cell: a bulk insert of any size is one Bind.
 * With `missing=default`, a column some rows lack takes, in those rows, what `DEFAULT` stands for
 * (the catalog's default expression, evaluated only for them); a column that takes nothing but
 * DEFAULT (identity ALWAYS, generated) and that no row gives is left out, and gets it anyway.
 */
export function insertStatement(level: LevelSql, options: InsertOptions): SQL {
  const { table } = level;
  const { rows } = options;
  const into = sql`insert into ${tableRef(table)} as ${ident(level.alias)}`;
  const payload = sql`(${JSON.stringify(rows)})::json`;
  let insert: SQL;
  if (options.columns.length === 0) {
    // Nothing named: each row is all defaults (PostgREST's `{}` body).
    insert = sql`${into} select from generate_series(1, (${rows.length})::integer)`;
  } else {
    const body = ident("pgrst_body");
    const perRow: string[] = [];
    const named: string[] = [];
    const selected: SQL[] = [];
    for (const name of options.columns) {
      const col = column(table, name);
      const given = rows.reduce((n, row) => (Object.hasOwn(row, name) ? n + 1 : n), 0);
      if (!options.missingDefault || given === rows.length || (col.defaultOnly && given > 0)) {
        // Every row gives it, or a missing key reads as null (PostgreSQL refuses a value for a
        // DEFAULT-only column, as it refuses the rows that give one).
        named.push(name);
        selected.push(sql`${body}.${ident(name)}`);
      } else if (!col.defaultOnly) {
        const fallback =
          col.defaultSql === null
            ? sql`null::${typeName(col.type)}`
            : sql`(${sql.raw(col.defaultSql)})::${typeName(col.type)}`;
        named.push(name);
        if (given === 0) {
          selected.push(fallback);
        } else {
          // `->` is SQL null only for an absent key (a JSON null is the json value `null`).
          const elem = sql`${ident("pgrst_payload")}.${ident("elem")}`;
          selected.push(
            sql`case when ${elem} -> (${name})::text is not null then ${body}.${ident(name)} else ${fallback} end`,
          );
          perRow.push(name);
        }
      }
    }
    const names = join(
      named.map((c) => ident(c)),
      ", ",
    );
    const from =
      perRow.length === 0
        ? sql`json_to_recordset(${payload}) as ${body}(${definitions(table, named)})`
        : sql`json_array_elements(${payload}) with ordinality as ${ident("pgrst_payload")}(${ident("elem")}, ${ident("ord")})
          cross join lateral json_to_record(${ident("pgrst_payload")}.${ident("elem")}) as ${body}(${definitions(table, named)})`;
    const order = perRow.length === 0 ? sql`` : sql` order by ${ident("pgrst_payload")}.${ident("ord")}`;
    insert =
      named.length === 0
        ? sql`${into} select from json_array_elements(${payload})`
        : sql`${into} (${names}) select ${join(selected, ", ")} from ${from}${order}`;
  }
  const target = options.onConflict ?? table.primaryKey;
  if (options.resolution && target.length > 0) {
    for (const name of target) {
      column(table, name);
    }
    const conflict = join(
      target.map((c) => ident(c)),
      ", ",
    );
    if (options.resolution === "ignore-duplicates" || options.columns.length === 0) {
      insert = sql`${insert} on conflict (${conflict}) do nothing`;
    } else {
      const sets = options.columns.map((c) => sql`${ident(c)} = excluded.${ident(c)}`);
      insert = sql`${insert} on conflict (${conflict}) do update set ${join(sets, ", ")}`;
    }
  }
  return wrapMutation(sql`${insert} ${returningList(level, options)}`, level, options);
}

/**
 * Supabase runs pg-safeupdate for API requests: an UPDATE or DELETE whose statement has no WHERE
 * clause fails with 21000 (PostgREST answers 400). The mutation's WHERE holds the top-level filters
 * only (embedded filters and `!inner` narrow what is returned, not what is changed), so a request
 * without one is refused before it runs; a filter that row-level security then narrows is fine.
 */
function requireWhere(level: LevelSql, command: "UPDATE" | "DELETE"): SQL {
  if (level.filters.length === 0) {
    throw new PgrstError(400, "21000", `${command} requires a WHERE clause`);
  }
  return whereOf(level.filters);
}

/** The body is one bound parameter, read as one record of the named columns (PostgREST's). */
export function updateStatement(
  level: LevelSql,
  body: Record<string, unknown>,
  columns: string[],
  options: MutationOptions,
): SQL {
  const { table } = level;
  const source = ident("pgrst_body");
  const where = requireWhere(level, "UPDATE");
  const sets = columns.map((c) => sql`${ident(c)} = ${source}.${ident(c)}`);
  const update = sql`update ${tableRef(table)} as ${ident(level.alias)} set ${join(sets, ", ")}
    from json_to_record((${JSON.stringify(body)})::json) as ${source}(${definitions(table, columns)})
    where ${where} ${returningList(level, options)}`;
  return wrapMutation(update, level, options);
}

export function deleteStatement(level: LevelSql, options: MutationOptions): SQL {
  const where = requireWhere(level, "DELETE");
  const remove = sql`delete from ${tableRef(level.table)} as ${ident(level.alias)}
    where ${where} ${returningList(level, options)}`;
  return wrapMutation(remove, level, options);
}
