import type { Catalog, Column, ForeignKey, FunctionArg, PgFunction, PgType, Relation } from "./catalog";

/**
 * Renders a catalog as the TypeScript module `supabase gen types typescript` writes (postgres-meta's
 * typegen, with one-to-one detection on, as the CLI runs it for a PostgREST newer than v9). The text
 * is laid out loosely; `formatTypes` gives it the final layout.
 *
 * Not rendered, because this schema has none and rendering them right needs more of PostgREST's
 * schema cache than the catalog holds: relationships of views (PostgREST follows a view's columns
 * back to its tables' keys), and the error types the CLI writes for overloads PostgREST cannot tell
 * apart. A view gets `Relationships: []`; overloads are listed as a union.
 */

const stringTypes = new Set([
  "bytea",
  "bpchar",
  "varchar",
  "date",
  "text",
  "citext",
  "time",
  "timetz",
  "timestamp",
  "timestamptz",
  "uuid",
  "vector",
  "interval",
]);
const numberTypes = new Set(["int2", "int4", "int8", "float4", "float8", "numeric"]);
/** json, jsonb, text: the types PostgREST accepts for a function's single unnamed argument. */
const unnamedArgTypes = new Set([114, 3802, 25]);
const inputModes = new Set<FunctionArg["mode"]>(["in", "inout", "variadic"]);

const key = (name: string) => JSON.stringify(name);
/** The names are sorted as the CLI sorts them (ICU, English), whatever the machine's locale. */
const byName = (a: string, b: string) => a.localeCompare(b, "en-US");

class Renderer {
  private readonly typesById = new Map<number, PgType>();
  private readonly relationsById = new Map<number, Relation>();
  private readonly columnsByRelation = new Map<number, Column[]>();
  private readonly functions: { fn: PgFunction; inArgs: FunctionArg[] }[];

  constructor(private readonly catalog: Catalog) {
    for (const type of catalog.types) {
      this.typesById.set(type.id, type);
    }
    for (const relation of catalog.relations) {
      this.relationsById.set(relation.id, relation);
      this.columnsByRelation.set(relation.id, []);
    }
    for (const column of catalog.columns) {
      this.columnsByRelation.get(column.relationId)?.push(column);
    }
    for (const columns of this.columnsByRelation.values()) {
      columns.sort((a, b) => byName(a.name, b.name));
    }
    this.functions = catalog.functions
      .map((fn) => {
        const args = [...fn.args].sort((a, b) => byName(a.name, b.name));
        return { fn: { ...fn, args }, inArgs: args.filter((arg) => inputModes.has(arg.mode)) };
      })
      .filter(({ inArgs }) => this.callable(inArgs));
  }

  /** Whether PostgREST exposes the function over /rpc (its rules for unnamed arguments). */
  private callable(inArgs: FunctionArg[]): boolean {
    const unnamed = inArgs.filter((arg) => arg.name === "");
    if (unnamed.length === 0) {
      return true;
    }
    if (unnamed.every((arg) => arg.hasDefault && unnamedArgTypes.has(arg.typeId))) {
      return true;
    }
    const [only] = inArgs;
    // A single row-typed argument is kept even when the return is not a relation: the CLI then
    // writes an error type for it (see `signature`).
    return (
      inArgs.length === 1 &&
      only !== undefined &&
      (unnamedArgTypes.has(only.typeId) || this.rowTypeRelation(only.typeId) !== undefined)
    );
  }

  private rowTypeRelation(typeId: number): PgType | undefined {
    const type = this.typesById.get(typeId);
    return type?.relationId ? type : undefined;
  }

  /** The table, view, or composite type whose rows a function returns. */
  private returnedRelationName(fn: PgFunction): string | null {
    if (!fn.returnRelationId) {
      return null;
    }
    const relation = this.relationsById.get(fn.returnRelationId);
    if (relation) {
      return relation.name;
    }
    return this.typesById.get(fn.returnTypeId)?.name ?? null;
  }

  private relationsNamed(name: string, kinds: Relation["kind"][]): Relation[] {
    return this.catalog.relations.filter(
      (relation) => relation.name === name && kinds.includes(relation.kind),
    );
  }

  /** A PostgreSQL type name as TypeScript, the CLI's mapping (bigint too is a number). */
  tsType(schema: string, pgType: string): string {
    if (pgType === "bool") {
      return "boolean";
    }
    if (numberTypes.has(pgType)) {
      return "number";
    }
    if (stringTypes.has(pgType)) {
      return "string";
    }
    if (pgType === "json" || pgType === "jsonb") {
      return "Json";
    }
    if (pgType === "void") {
      return "undefined";
    }
    if (pgType === "record") {
      return "Record<string, unknown>";
    }
    if (pgType.startsWith("_")) {
      const element = this.tsType(schema, pgType.slice(1));
      return element.includes("|") ? `(${element})[]` : `${element}[]`;
    }
    const pick = <T extends { schema: string }>(candidates: T[]) =>
      candidates.find((candidate) => candidate.schema === schema) ?? candidates[0];
    const included = (name: string) => this.catalog.schemas.includes(name);

    const enumType = pick(this.catalog.types.filter((type) => type.name === pgType && type.enums.length > 0));
    if (enumType) {
      return included(enumType.schema)
        ? `Database[${key(enumType.schema)}]["Enums"][${key(enumType.name)}]`
        : enumType.enums.map(key).join(" | ");
    }
    const composite = pick(
      this.catalog.types.filter((type) => type.name === pgType && type.attributes.length > 0),
    );
    if (composite) {
      return included(composite.schema)
        ? `Database[${key(composite.schema)}]["CompositeTypes"][${key(composite.name)}]`
        : "unknown";
    }
    const table = pick(this.relationsNamed(pgType, ["table"]));
    if (table) {
      return included(table.schema)
        ? `Database[${key(table.schema)}]["Tables"][${key(table.name)}]["Row"]`
        : "unknown";
    }
    const view = pick(this.relationsNamed(pgType, ["view"]));
    if (view) {
      return included(view.schema)
        ? `Database[${key(view.schema)}]["Views"][${key(view.name)}]["Row"]`
        : "unknown";
    }
    return "unknown";
  }

  private typeOf(schema: string, typeId: number): string {
    const type = this.typesById.get(typeId);
    return type ? this.tsType(schema, type.name) : "unknown";
  }

  private nullable(tsType: string, isNullable: boolean): string {
    // unknown already admits null.
    return isNullable && tsType !== "unknown" ? `${tsType} | null` : tsType;
  }

  private field(schema: string, column: Column, options: { optional: boolean; nullable: boolean }): string {
    return `${key(column.name)}${options.optional ? "?" : ""}: ${this.nullable(
      this.tsType(schema, column.format),
      options.nullable,
    )}`;
  }

  private columns(relation: Relation): Column[] {
    return this.columnsByRelation.get(relation.id) ?? [];
  }

  /** Row: every column as read, plus computed fields (functions of the row). */
  private row(schema: string, relation: Relation): string {
    const fields = this.columns(relation).map((column) =>
      this.field(schema, column, { optional: false, nullable: column.nullable }),
    );
    for (const { fn } of this.schemaFunctions(schema)) {
      if (fn.argumentTypes === relation.name) {
        fields.push(`${key(fn.name)}: ${this.nullable(this.returnType(schema, fn), true)}`);
      }
    }
    return `Row: {\n${fields.join("\n")}\n}`;
  }

  private tableEntry(schema: string, relation: Relation, relationships: ForeignKey[]): string {
    const columns = this.columns(relation);
    const insert = columns.map((column) =>
      column.identity === "ALWAYS"
        ? `${key(column.name)}?: never`
        : this.field(schema, column, {
            optional: column.nullable || column.identity !== null || column.hasDefault,
            nullable: column.nullable,
          }),
    );
    const update = columns.map((column) =>
      column.identity === "ALWAYS"
        ? `${key(column.name)}?: never`
        : this.field(schema, column, { optional: true, nullable: column.nullable }),
    );
    return `${key(relation.name)}: {
${this.row(schema, relation)}
Insert: {\n${insert.join("\n")}\n}
Update: {\n${update.join("\n")}\n}
Relationships: [${relationships.map((fk) => this.relationship(fk)).join(",\n")}]
}`;
  }

  private viewEntry(schema: string, relation: Relation, relationships: ForeignKey[]): string {
    const writable = () =>
      this.columns(relation)
        .map((column) =>
          column.updatable
            ? this.field(schema, column, { optional: true, nullable: true })
            : `${key(column.name)}?: never`,
        )
        .join("\n");
    const writes = relation.updatable ? `Insert: {\n${writable()}\n}\nUpdate: {\n${writable()}\n}\n` : "";
    return `${key(relation.name)}: {
${this.row(schema, relation)}
${writes}Relationships: [${relationships.map((fk) => this.relationship(fk)).join(",\n")}]
}`;
  }

  private relationship(fk: ForeignKey): string {
    return `{
foreignKeyName: ${key(fk.name)}
columns: ${JSON.stringify(fk.columns)}
isOneToOne: ${fk.oneToOne}
referencedRelation: ${key(fk.referencedRelation)}
referencedColumns: ${JSON.stringify(fk.referencedColumns)}
}`;
  }

  private relationshipsOf(relation: Relation): ForeignKey[] {
    return this.sortedForeignKeys().filter(
      (fk) =>
        fk.schema === relation.schema &&
        fk.relation === relation.name &&
        fk.referencedSchema === relation.schema,
    );
  }

  private sortedForeignKeys(): ForeignKey[] {
    return [...this.catalog.foreignKeys].sort(
      (a, b) =>
        byName(a.name, b.name) ||
        byName(a.referencedRelation, b.referencedRelation) ||
        byName(JSON.stringify(a.referencedColumns), JSON.stringify(b.referencedColumns)),
    );
  }

  private schemaFunctions(schema: string) {
    return this.functions
      .filter(({ fn }) => fn.schema === schema)
      .sort((a, b) => byName(a.fn.name, b.fn.name));
  }

  /** What a function returns: a `returns table` object, a relation's row, or a mapped type. */
  private returnType(schema: string, fn: PgFunction): string {
    const tableArgs = fn.args.filter((arg) => arg.mode === "table");
    if (tableArgs.length > 0) {
      return `{\n${tableArgs.map((arg) => `${key(arg.name)}: ${this.typeOf(schema, arg.typeId)}`).join("\n")}\n}`;
    }
    const relation = fn.returnRelationId ? this.relationsById.get(fn.returnRelationId) : undefined;
    if (relation && relation.schema === schema && relation.kind !== "foreign_table") {
      const fields = this.columns(relation).map((column) =>
        this.field(schema, column, { optional: false, nullable: column.nullable }),
      );
      return `{\n${fields.join("\n")}\n}`;
    }
    return this.typeOf(schema, fn.returnTypeId);
  }

  /** `Returns` with the array suffix and the SetofOptions postgrest-js reads to embed the rows. */
  private returns(fn: PgFunction, returnType: string): string {
    const target = this.returnedRelationName(fn);
    const manyRows = fn.rows !== null && fn.rows > 1;
    let setof = "";
    if (target) {
      setof = this.setofOptions("*", target, !manyRows, fn.setReturning);
    }
    const [onlyArg] = fn.args;
    const rowArg = fn.args.length === 1 && onlyArg ? this.rowTypeRelation(onlyArg.typeId) : undefined;
    if (rowArg && target) {
      setof = fn.setReturning
        ? fn.returnRelationId !== null
          ? this.setofOptions(rowArg.name, target, !manyRows, true)
          : setof
        : this.setofOptions(rowArg.name, target, true, false);
    }
    // Only a relation-typed single row keeps its object shape (postgrest-js restores the array from
    // isOneToOne); otherwise a set is an array.
    const collapses = !manyRows && target !== null;
    return `${returnType}${fn.setReturning && !collapses ? "[]" : ""}${setof ? `\n${setof}` : ""}`;
  }

  private setofOptions(from: string, to: string, oneToOne: boolean, setReturn: boolean): string {
    return `SetofOptions: {\nfrom: ${key(from)}\nto: ${key(to)}\nisOneToOne: ${oneToOne}\nisSetofReturn: ${setReturn}\n}`;
  }

  private signature(schema: string, fn: PgFunction, inArgs: FunctionArg[]): string {
    const args =
      inArgs.length === 0
        ? "never"
        : `{ ${inArgs
            .map((arg) => `${key(arg.name)}${arg.hasDefault ? "?" : ""}: ${this.typeOf(schema, arg.typeId)}`)
            .join("; ")} }`;
    const [only] = inArgs;
    const rowWithoutTarget =
      inArgs.length === 1 &&
      only?.name === "" &&
      this.rowTypeRelation(only.typeId) !== undefined &&
      this.returnedRelationName(fn) === null;
    const returnType = rowWithoutTarget
      ? `{ error: true } & ${key(
          `the function ${schema}.${fn.name} with parameter or with a single unnamed json/jsonb parameter, but no matches were found in the schema cache`,
        )}`
      : this.returnType(schema, fn);
    return `{ Args: ${args}; Returns: ${this.returns(fn, returnType)} }`;
  }

  private functionsSection(schema: string): string {
    const byFunction = new Map<string, { fn: PgFunction; inArgs: FunctionArg[] }[]>();
    for (const entry of this.schemaFunctions(schema)) {
      byFunction.set(entry.fn.name, [...(byFunction.get(entry.fn.name) ?? []), entry]);
    }
    if (byFunction.size === 0) {
      return "[_ in never]: never";
    }
    return [...byFunction.entries()]
      .map(([name, overloads]) => {
        overloads.sort(
          (a, b) =>
            byName(a.fn.argumentTypes, b.fn.argumentTypes) || byName(a.fn.returnType, b.fn.returnType),
        );
        return `${key(name)}:\n${overloads.map(({ fn, inArgs }) => this.signature(schema, fn, inArgs)).join(" |\n")}`;
      })
      .join("\n");
  }

  private enums(schema: string): PgType[] {
    return this.catalog.types
      .filter((type) => type.schema === schema && type.enums.length > 0)
      .sort((a, b) => byName(a.name, b.name));
  }

  private schemaSection(schema: string): string {
    const relations = this.catalog.relations
      .filter((relation) => relation.schema === schema)
      .sort((a, b) => byName(a.name, b.name));
    const tables = relations.filter(
      (relation) => relation.kind === "table" || relation.kind === "foreign_table",
    );
    const views = relations.filter(
      (relation) => relation.kind === "view" || relation.kind === "materialized_view",
    );
    const enums = this.enums(schema);
    const composites = this.catalog.types
      .filter((type) => type.schema === schema && type.attributes.length > 0)
      .sort((a, b) => byName(a.name, b.name));
    const orNever = (entries: string[]) =>
      entries.length === 0 ? "[_ in never]: never" : entries.join("\n");
    return `${key(schema)}: {
Tables: {
${orNever(tables.map((table) => this.tableEntry(schema, table, this.relationshipsOf(table))))}
}
Views: {
${orNever(views.map((view) => this.viewEntry(schema, view, [])))}
}
Functions: {
${this.functionsSection(schema)}
}
Enums: {
${orNever(enums.map((type) => `${key(type.name)}: ${type.enums.map(key).join(" | ")}`))}
}
CompositeTypes: {
${orNever(
  composites.map(
    (type) =>
      `${key(type.name)}: {\n${type.attributes
        .map(
          (attribute) =>
            `${key(attribute.name)}: ${this.nullable(this.typeOf(schema, attribute.typeId), true)}`,
        )
        .join("\n")}\n}`,
  ),
)}
}
}`;
  }

  render(): string {
    const schemas = [...this.catalog.schemas].sort(byName);
    const constants = schemas.map(
      (schema) =>
        `${key(schema)}: {\nEnums: {\n${this.enums(schema)
          .map((type) => `${key(type.name)}: [${type.enums.map(key).join(", ")}]`)
          .join(",\n")}\n}\n}`,
    );
    // No __InternalSupabase: the CLI writes it only when told the PostgREST version (the hosted
    // project API does; `--local` and `--db-url` do not), and supabase-js defaults without it.
    return `export type Json = string | number | boolean | null | { [key: string]: Json | undefined } | Json[]

export type Database = {
${schemas.map((schema) => this.schemaSection(schema)).join("\n")}
}

${helperTypes}

export const Constants = {
${constants.join(",\n")}
} as const
`;
  }
}

/** The helpers the CLI appends: row, insert, update, enum and composite types by name. */
const helperTypes = `type DatabaseWithoutInternals = Omit<Database, "__InternalSupabase">

type DefaultSchema = DatabaseWithoutInternals[Extract<keyof Database, "public">]

export type Tables<
  DefaultSchemaTableNameOrOptions extends
    | keyof (DefaultSchema["Tables"] & DefaultSchema["Views"])
    | { schema: keyof DatabaseWithoutInternals },
  TableName extends DefaultSchemaTableNameOrOptions extends { schema: keyof DatabaseWithoutInternals }
    ? keyof (DatabaseWithoutInternals[DefaultSchemaTableNameOrOptions["schema"]]["Tables"] &
        DatabaseWithoutInternals[DefaultSchemaTableNameOrOptions["schema"]]["Views"])
    : never = never,
> = DefaultSchemaTableNameOrOptions extends { schema: keyof DatabaseWithoutInternals }
  ? (DatabaseWithoutInternals[DefaultSchemaTableNameOrOptions["schema"]]["Tables"] &
      DatabaseWithoutInternals[DefaultSchemaTableNameOrOptions["schema"]]["Views"])[TableName] extends { Row: infer R }
    ? R
    : never
  : DefaultSchemaTableNameOrOptions extends keyof (DefaultSchema["Tables"] & DefaultSchema["Views"])
    ? (DefaultSchema["Tables"] & DefaultSchema["Views"])[DefaultSchemaTableNameOrOptions] extends { Row: infer R }
      ? R
      : never
    : never

${["Insert", "Update"]
  .map(
    (kind) => `export type Tables${kind}<
  DefaultSchemaTableNameOrOptions extends keyof DefaultSchema["Tables"] | { schema: keyof DatabaseWithoutInternals },
  TableName extends DefaultSchemaTableNameOrOptions extends { schema: keyof DatabaseWithoutInternals }
    ? keyof DatabaseWithoutInternals[DefaultSchemaTableNameOrOptions["schema"]]["Tables"]
    : never = never,
> = DefaultSchemaTableNameOrOptions extends { schema: keyof DatabaseWithoutInternals }
  ? DatabaseWithoutInternals[DefaultSchemaTableNameOrOptions["schema"]]["Tables"][TableName] extends { ${kind}: infer ${kind[0]} }
    ? ${kind[0]}
    : never
  : DefaultSchemaTableNameOrOptions extends keyof DefaultSchema["Tables"]
    ? DefaultSchema["Tables"][DefaultSchemaTableNameOrOptions] extends { ${kind}: infer ${kind[0]} }
      ? ${kind[0]}
      : never
    : never`,
  )
  .join("\n\n")}

export type Enums<
  DefaultSchemaEnumNameOrOptions extends keyof DefaultSchema["Enums"] | { schema: keyof DatabaseWithoutInternals },
  EnumName extends DefaultSchemaEnumNameOrOptions extends { schema: keyof DatabaseWithoutInternals }
    ? keyof DatabaseWithoutInternals[DefaultSchemaEnumNameOrOptions["schema"]]["Enums"]
    : never = never,
> = DefaultSchemaEnumNameOrOptions extends { schema: keyof DatabaseWithoutInternals }
  ? DatabaseWithoutInternals[DefaultSchemaEnumNameOrOptions["schema"]]["Enums"][EnumName]
  : DefaultSchemaEnumNameOrOptions extends keyof DefaultSchema["Enums"]
    ? DefaultSchema["Enums"][DefaultSchemaEnumNameOrOptions]
    : never

export type CompositeTypes<
  PublicCompositeTypeNameOrOptions extends
    | keyof DefaultSchema["CompositeTypes"]
    | { schema: keyof DatabaseWithoutInternals },
  CompositeTypeName extends PublicCompositeTypeNameOrOptions extends { schema: keyof DatabaseWithoutInternals }
    ? keyof DatabaseWithoutInternals[PublicCompositeTypeNameOrOptions["schema"]]["CompositeTypes"]
    : never = never,
> = PublicCompositeTypeNameOrOptions extends { schema: keyof DatabaseWithoutInternals }
  ? DatabaseWithoutInternals[PublicCompositeTypeNameOrOptions["schema"]]["CompositeTypes"][CompositeTypeName]
  : PublicCompositeTypeNameOrOptions extends keyof DefaultSchema["CompositeTypes"]
    ? DefaultSchema["CompositeTypes"][PublicCompositeTypeNameOrOptions]
    : never`;

export function renderTypes(catalog: Catalog): string {
  return new Renderer(catalog).render();
}
