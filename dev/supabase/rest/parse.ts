import { PgrstError, parseError } from "./errors";

/**
 * PostgREST's URL and header grammar, as @supabase/postgrest-js emits it: `select`, horizontal
 * filters (`col=op.value`, `or=(…)`, `and=(…)`, `not.`), `order`, `limit`, `offset`, the same keys
 * prefixed by an embedded resource's name (`rel.order`, `rel.col=eq.1`), `columns`, `on_conflict`,
 * and the Accept, Prefer and Range headers. Parsing is pure: identifiers are checked against the
 * catalog later (sql.ts), values are never interpreted beyond their shape.
 */

export interface JsonStep {
  arrow: "->" | "->>";
  /** An object key, or an array index (digits, optionally negative). */
  key: string;
}

export interface Field {
  name: string;
  json: JsonStep[];
}

export type SelectItem =
  | { kind: "star" }
  | { kind: "column"; field: Field; alias?: string; cast?: string }
  | { kind: "embed"; target: string; alias?: string; hint?: string; inner: boolean; items: SelectItem[] };

export const operators = [
  "eq",
  "neq",
  "gt",
  "gte",
  "lt",
  "lte",
  "like",
  "ilike",
  "match",
  "imatch",
  "is",
  "isdistinct",
  "in",
  "cs",
  "cd",
  "ov",
  "sl",
  "sr",
  "nxr",
  "nxl",
  "adj",
  "fts",
  "plfts",
  "phfts",
  "wfts",
] as const;
export type Operator = (typeof operators)[number];

/** Operators that accept `(any)` / `(all)` with a `{a,b}` list. */
const quantifiable = new Set<Operator>([
  "eq",
  "neq",
  "gt",
  "gte",
  "lt",
  "lte",
  "like",
  "ilike",
  "match",
  "imatch",
]);
const textSearch = new Set<Operator>(["fts", "plfts", "phfts", "wfts"]);

export interface Filter {
  kind: "filter";
  field: Field;
  negate: boolean;
  op: Operator;
  /** `like(any).{a,b}`: the comparison against any/all of `list`. */
  quantifier?: "any" | "all";
  value: string;
  /** `in.(…)` and quantified values. */
  list?: string[];
  /** `fts(english).…`: the text search configuration. */
  config?: string;
}

export interface Logic {
  kind: "logic";
  op: "and" | "or";
  negate: boolean;
  children: Condition[];
}

export type Condition = Filter | Logic;

export interface OrderTerm {
  field: Field;
  desc: boolean;
  nulls?: "first" | "last";
}

/** What applies to one level of the result: the top level (path "") or an embedded resource. */
export interface Level {
  conditions: Condition[];
  order: OrderTerm[];
  limit?: number;
  offset?: number;
}

export interface ParsedQuery {
  select: SelectItem[];
  /** Whether the request named `select` (mutations return every column otherwise). */
  selectGiven: boolean;
  /** Keyed by embed path: "" for the top level, "rel" or "rel.sub" for embedded resources. */
  levels: Map<string, Level>;
  columns?: string[];
  onConflict?: string[];
}

const identChar = /[\p{L}\p{N}_$]/u;

/** A small cursor over one parameter's text. */
class Cursor {
  pos = 0;
  constructor(
    readonly text: string,
    readonly what: string,
  ) {}

  peek(offset = 0): string {
    return this.text[this.pos + offset] ?? "";
  }

  done(): boolean {
    return this.pos >= this.text.length;
  }

  startsWith(token: string): boolean {
    return this.text.startsWith(token, this.pos);
  }

  eat(token: string): boolean {
    if (this.startsWith(token)) {
      this.pos += token.length;
      return true;
    }
    return false;
  }

  fail(expecting: string): never {
    const found = this.done() ? "end of input" : `"${this.peek()}"`;
    throw parseError(this.what, this.text, `unexpected ${found} expecting ${expecting}`);
  }

  expect(token: string): void {
    if (!this.eat(token)) {
      this.fail(`"${token}"`);
    }
  }

  /** An identifier: letters, digits, `_`, `$`, or a double-quoted name. */
  identifier(): string {
    if (this.peek() === '"') {
      return this.quoted();
    }
    const start = this.pos;
    while (!this.done() && identChar.test(this.peek())) {
      this.pos++;
    }
    if (this.pos === start) {
      this.fail("identifier");
    }
    return this.text.slice(start, this.pos);
  }

  /** A double-quoted string with backslash escapes. */
  quoted(): string {
    this.expect('"');
    let out = "";
    while (!this.done() && this.peek() !== '"') {
      if (this.peek() === "\\" && this.pos + 1 < this.text.length) {
        this.pos++;
      }
      out += this.peek();
      this.pos++;
    }
    this.expect('"');
    return out;
  }

  /** `->key`, `->>key`, `->0` steps after a field name. */
  jsonPath(): JsonStep[] {
    const steps: JsonStep[] = [];
    while (this.startsWith("->")) {
      let arrow: JsonStep["arrow"] = "->>";
      if (!this.eat("->>")) {
        this.expect("->");
        arrow = "->";
      }
      let key: string;
      if (this.peek() === "-" || /\d/.test(this.peek())) {
        const start = this.pos;
        this.eat("-");
        while (/\d/.test(this.peek())) {
          this.pos++;
        }
        key = this.text.slice(start, this.pos);
        if (!/^-?\d+$/.test(key)) {
          this.fail("digit");
        }
      } else {
        key = this.identifier();
      }
      steps.push({ arrow, key });
    }
    return steps;
  }

  field(): Field {
    const name = this.identifier();
    return { name, json: this.jsonPath() };
  }
}

// --- select ------------------------------------------------------------------------------------------

export function parseSelect(text: string): SelectItem[] {
  const cursor = new Cursor(text, "select parameter");
  if (text === "") {
    return [];
  }
  const items = selectList(cursor, 0);
  if (!cursor.done()) {
    cursor.fail('"," or end of input');
  }
  return items;
}

function selectList(cursor: Cursor, depth: number): SelectItem[] {
  if (depth > 8) {
    // A bound on nesting keeps recursion (and the SQL it would build) small.
    cursor.fail("fewer nested embeddings");
  }
  const items: SelectItem[] = [];
  for (;;) {
    items.push(selectItem(cursor, depth));
    if (!cursor.eat(",")) {
      return items;
    }
  }
}

function selectItem(cursor: Cursor, depth: number): SelectItem {
  if (cursor.eat("*")) {
    return { kind: "star" };
  }
  if (cursor.startsWith("...")) {
    cursor.fail("field name (spread embeddings are not supported by the local PostgREST)");
  }
  let alias: string | undefined;
  let name = cursor.identifier();
  if (cursor.peek() === ":" && cursor.peek(1) !== ":") {
    cursor.pos++;
    alias = name;
    if (cursor.startsWith("...")) {
      cursor.fail("field name");
    }
    name = cursor.identifier();
  }
  if (cursor.peek() === "!" || cursor.peek() === "(") {
    let hint: string | undefined;
    let inner = false;
    while (cursor.eat("!")) {
      const word = cursor.identifier();
      if (word === "inner") {
        inner = true;
      } else if (word === "left") {
        inner = false;
      } else if (hint === undefined) {
        hint = word;
      } else {
        cursor.fail('"(" (one hint per embedding)');
      }
    }
    cursor.expect("(");
    const items = cursor.peek() === ")" ? [] : selectList(cursor, depth + 1);
    cursor.expect(")");
    return { kind: "embed", target: name, alias, hint, inner, items };
  }
  const json = cursor.jsonPath();
  let cast: string | undefined;
  if (cursor.eat("::")) {
    cast = cursor.identifier().toLowerCase();
  }
  if (cursor.peek() === "." && /^\.[a-z]+\(/.test(cursor.text.slice(cursor.pos))) {
    throw new PgrstError(400, "PGRST123", "Use of aggregate functions is not allowed");
  }
  return { kind: "column", field: { name, json }, alias, cast };
}

// --- filters -----------------------------------------------------------------------------------------

function isOperator(word: string): word is Operator {
  return (operators as readonly string[]).includes(word);
}

/**
 * `[not.]op[(any|all)|(config)].value`. In a logic tree the value ends at `,` or `)` outside quotes,
 * parentheses and braces; at the top level it is the rest of the parameter.
 */
function filterExpression(cursor: Cursor, field: Field, inTree: boolean): Filter {
  let negate = false;
  if (cursor.startsWith("not.")) {
    cursor.pos += 4;
    negate = true;
  }
  const start = cursor.pos;
  while (/[a-z]/.test(cursor.peek())) {
    cursor.pos++;
  }
  const word = cursor.text.slice(start, cursor.pos);
  if (!isOperator(word)) {
    cursor.pos = start;
    cursor.fail(`"not" or operator (${operators.join(", ")})`);
  }
  const op = word;
  let quantifier: "any" | "all" | undefined;
  let config: string | undefined;
  if (cursor.eat("(")) {
    const inside = cursor.identifier();
    cursor.expect(")");
    if (quantifiable.has(op) && (inside === "any" || inside === "all")) {
      quantifier = inside;
    } else if (textSearch.has(op)) {
      config = inside;
    } else {
      cursor.fail('"." (this operator takes no modifier)');
    }
  }
  cursor.expect(".");
  if (op === "in") {
    const list = valueList(cursor, "(", ")");
    if (!inTree && !cursor.done()) {
      cursor.fail("end of input");
    }
    return { kind: "filter", field, negate, op, value: "", list };
  }
  if (quantifier) {
    const list = valueList(cursor, "{", "}");
    if (!inTree && !cursor.done()) {
      cursor.fail("end of input");
    }
    return { kind: "filter", field, negate, op, quantifier, value: "", list };
  }
  const value = inTree ? treeValue(cursor) : cursor.text.slice(cursor.pos);
  cursor.pos = inTree ? cursor.pos : cursor.text.length;
  if (op === "is" && !/^(null|not_null|true|false|unknown)$/i.test(value)) {
    throw parseError(
      cursor.what,
      cursor.text,
      `unexpected "${value}" expecting null, not_null, true, false or unknown`,
    );
  }
  return { kind: "filter", field, negate, op, value, config };
}

/** `(a,"b,c",d)` or `{a,b}`: elements, quoted ones unescaped. */
function valueList(cursor: Cursor, open: string, close: string): string[] {
  cursor.expect(open);
  const values: string[] = [];
  if (cursor.eat(close)) {
    return values;
  }
  for (;;) {
    if (cursor.peek() === '"') {
      values.push(cursor.quoted());
    } else {
      const start = cursor.pos;
      while (!cursor.done() && cursor.peek() !== "," && cursor.peek() !== close) {
        cursor.pos++;
      }
      values.push(cursor.text.slice(start, cursor.pos));
    }
    if (cursor.eat(close)) {
      return values;
    }
    cursor.expect(",");
  }
}

/** A value inside a logic tree: quoted, or raw up to the next `,`/`)` not inside `{}`/`[]`/`()`. */
function treeValue(cursor: Cursor): string {
  if (cursor.peek() === '"') {
    return cursor.quoted();
  }
  const start = cursor.pos;
  let depth = 0;
  let inQuotes = false;
  while (!cursor.done()) {
    const c = cursor.peek();
    if (inQuotes) {
      if (c === "\\") {
        cursor.pos++;
      } else if (c === '"') {
        inQuotes = false;
      }
    } else if (c === '"') {
      inQuotes = true;
    } else if (c === "{" || c === "[" || c === "(") {
      depth++;
    } else if (c === "}" || c === "]" || (c === ")" && depth > 0)) {
      depth--;
    } else if ((c === "," || c === ")") && depth === 0) {
      break;
    }
    cursor.pos++;
  }
  return cursor.text.slice(start, cursor.pos);
}

function logicTree(cursor: Cursor, op: "and" | "or", negate: boolean, depth: number): Logic {
  if (depth > 16) {
    cursor.fail("fewer nested logic trees");
  }
  cursor.expect("(");
  const children: Condition[] = [];
  for (;;) {
    children.push(treeCondition(cursor, depth));
    if (cursor.eat(")")) {
      return { kind: "logic", op, negate, children };
    }
    cursor.expect(",");
  }
}

function treeCondition(cursor: Cursor, depth: number): Condition {
  for (const [prefix, op, negate] of [
    ["not.and(", "and", true],
    ["not.or(", "or", true],
    ["and(", "and", false],
    ["or(", "or", false],
  ] as const) {
    if (cursor.startsWith(prefix)) {
      cursor.pos += prefix.length - 1;
      return logicTree(cursor, op, negate, depth + 1);
    }
  }
  const field = cursor.field();
  cursor.expect(".");
  return filterExpression(cursor, field, true);
}

export function parseLogic(value: string, op: "and" | "or", negate: boolean): Logic {
  const cursor = new Cursor(value, "logic tree");
  const tree = logicTree(cursor, op, negate, 0);
  if (!cursor.done()) {
    cursor.fail("end of input");
  }
  return tree;
}

export function parseFilter(field: Field, value: string): Filter {
  const cursor = new Cursor(value, "filter");
  return filterExpression(cursor, field, false);
}

// --- order, limit, lists -----------------------------------------------------------------------------

export function parseOrder(text: string): OrderTerm[] {
  const cursor = new Cursor(text, "order");
  const terms: OrderTerm[] = [];
  if (text === "") {
    return terms;
  }
  for (;;) {
    const field = cursor.field();
    if (cursor.peek() === "(") {
      cursor.fail('"." or "," (ordering by an embedded resource is not supported by the local PostgREST)');
    }
    let desc = false;
    let nulls: OrderTerm["nulls"];
    if (cursor.eat(".asc")) {
      desc = false;
    } else if (cursor.eat(".desc")) {
      desc = true;
    }
    if (cursor.eat(".nullsfirst")) {
      nulls = "first";
    } else if (cursor.eat(".nullslast")) {
      nulls = "last";
    }
    terms.push({ field, desc, nulls });
    if (cursor.done()) {
      return terms;
    }
    if (!cursor.eat(",")) {
      cursor.fail('"asc", "desc", "nullsfirst", "nullslast" or ","');
    }
  }
}

function parseCount(what: string, text: string): number {
  if (!/^\d{1,15}$/.test(text)) {
    throw parseError(what, text, `unexpected "${text.slice(0, 1) || "end of input"}" expecting digit`);
  }
  return Number(text);
}

/** `columns=` and `on_conflict=`: identifiers, optionally quoted, separated by commas. */
export function parseColumnList(what: string, text: string): string[] {
  const cursor = new Cursor(text, what);
  const names: string[] = [];
  for (;;) {
    names.push(cursor.identifier());
    if (cursor.done()) {
      return names;
    }
    cursor.expect(",");
  }
}

/** A filter's key: `col`, `col->a->>b`, or `rel.sub.col` for an embedded resource. */
function splitKey(key: string): { path: string[]; last: string } {
  const arrow = key.indexOf("->");
  const head = arrow < 0 ? key : key.slice(0, arrow);
  const tail = arrow < 0 ? "" : key.slice(arrow);
  const parts = head.split(".");
  const last = `${parts.pop() ?? ""}${tail}`;
  return { path: parts, last };
}

function level(levels: Map<string, Level>, path: string[]): Level {
  const key = path.join(".");
  let found = levels.get(key);
  if (!found) {
    found = { conditions: [], order: [] };
    levels.set(key, found);
  }
  return found;
}

/** Parameters the gateway may leave in the URL and PostgREST never sees as filters. */
const ignoredParams = new Set(["apikey"]);

export function parseQuery(params: URLSearchParams): ParsedQuery {
  const levels = new Map<string, Level>([["", { conditions: [], order: [] }]]);
  const query: ParsedQuery = { select: [{ kind: "star" }], selectGiven: false, levels };
  for (const [key, value] of params) {
    if (ignoredParams.has(key)) {
      continue;
    }
    if (key === "select") {
      query.select = parseSelect(value);
      query.selectGiven = true;
      continue;
    }
    if (key === "columns") {
      query.columns = parseColumnList("columns parameter", value);
      continue;
    }
    if (key === "on_conflict") {
      query.onConflict = parseColumnList("on_conflict parameter", value);
      continue;
    }
    const { path, last } = splitKey(key);
    if (last === "order") {
      level(levels, path).order = parseOrder(value);
    } else if (last === "limit") {
      level(levels, path).limit = parseCount("limit parameter", value);
    } else if (last === "offset") {
      level(levels, path).offset = parseCount("offset parameter", value);
    } else if (last === "or" || last === "and") {
      const negate = path[path.length - 1] === "not";
      const at = negate ? path.slice(0, -1) : path;
      level(levels, at).conditions.push(parseLogic(value, last, negate));
    } else {
      const cursor = new Cursor(last, "filter");
      const field = cursor.field();
      if (!cursor.done()) {
        cursor.fail('"->", "->>" or "="');
      }
      level(levels, path).conditions.push(parseFilter(field, value));
    }
  }
  return query;
}

// --- headers -----------------------------------------------------------------------------------------

export type MediaType = "json" | "object" | "csv";

export interface Accepted {
  media: MediaType;
  stripNulls: boolean;
}

/** The first media type in Accept this stand-in can produce; PGRST107 when there is none. */
export function parseAccept(header: string | null): Accepted {
  if (!header || header.trim() === "") {
    return { media: "json", stripNulls: false };
  }
  for (const part of header.split(",")) {
    const [typePart = "", ...paramParts] = part.split(";");
    const type = typePart.trim().toLowerCase();
    const stripNulls = paramParts.some((p) => p.trim().toLowerCase() === "nulls=stripped");
    if (type === "application/json" || type === "application/*" || type === "*/*") {
      return { media: "json", stripNulls: false };
    }
    if (type === "application/vnd.pgrst.array+json" || type === "application/vnd.pgrst.array") {
      return { media: "json", stripNulls };
    }
    if (type === "application/vnd.pgrst.object+json" || type === "application/vnd.pgrst.object") {
      return { media: "object", stripNulls };
    }
    if (type === "text/csv") {
      return { media: "csv", stripNulls: false };
    }
  }
  throw new PgrstError(406, "PGRST107", `None of these media types are available: ${header}`);
}

export interface Preferences {
  return?: "minimal" | "representation" | "headers-only";
  count?: "exact" | "planned" | "estimated";
  resolution?: "merge-duplicates" | "ignore-duplicates";
  missing?: "default" | "null";
  handling?: "strict" | "lenient";
  /** Preferences this stand-in does not know or cannot honour (PGRST122 under handling=strict). */
  invalid: string[];
}

const preferenceValues: Record<string, readonly string[]> = {
  return: ["minimal", "representation", "headers-only"],
  count: ["exact", "planned", "estimated"],
  resolution: ["merge-duplicates", "ignore-duplicates"],
  missing: ["default", "null"],
  handling: ["strict", "lenient"],
};

/** RFC 7240 `Prefer`; several headers arrive joined by ", ". Unknown ones are ignored (lenient). */
export function parsePrefer(header: string | null): Preferences {
  const prefs: Preferences = { invalid: [] };
  const record = prefs as unknown as Record<string, unknown>;
  for (const raw of (header ?? "").split(",")) {
    const item = raw.trim();
    if (item === "") {
      continue;
    }
    const [name = "", value = ""] = item.split("=", 2).map((s) => s.trim());
    const allowed = preferenceValues[name];
    if (allowed?.includes(value)) {
      record[name] = value;
    } else if (name !== "timezone" && name !== "tx" && name !== "max-affected") {
      prefs.invalid.push(item);
    }
  }
  if (prefs.handling === "strict" && prefs.invalid.length > 0) {
    throw new PgrstError(
      400,
      "PGRST122",
      "Invalid preferences given with handling=strict",
      `Invalid preferences: ${prefs.invalid.join(", ")}`,
    );
  }
  return prefs;
}

export interface RangeRequest {
  offset: number;
  /** Inclusive upper bound, or undefined for an open range (`10-`). */
  last?: number;
}

/** `Range: 0-9` (items). A header that does not parse is ignored, as PostgREST ignores it. */
export function parseRange(header: string | null): RangeRequest | undefined {
  const match = /^\s*(?:items=)?(\d{1,15})-(\d{0,15})\s*$/.exec(header ?? "");
  if (!match?.[1]) {
    return undefined;
  }
  const offset = Number(match[1]);
  const last = match[2] ? Number(match[2]) : undefined;
  if (last !== undefined && last < offset) {
    throw new PgrstError(416, "PGRST103", "Requested range not satisfiable", null);
  }
  return { offset, last };
}
