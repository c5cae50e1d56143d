import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { DevServer } from "../dev/server";
import { createUser, tokenFor } from "./support/helpers";
import { seeded } from "./support/random";
import { qstashDestinations, startTestStack } from "./support/stack";

/**
 * A generated fuzz run over every operation of the OpenAPI document, plus the workers and crons
 * (which it leaves out): malformed bodies built from each operation's own schema (every property
 * given each hostile value, each required property dropped), bodies that are not objects, invalid and
 * deeply nested JSON, oversized bodies, wrong content types, hostile headers, query strings and path
 * parameters. Every answer must be below 500 and, for JSON endpoints, the one error envelope; the
 * process must still answer its health check at the end. The seed is fixed (FUZZ_SEED overrides) so
 * a failure reproduces.
 */
let dev: DevServer;
let user: string;
let token: string;

beforeAll(async () => {
  // Validation, not the per-minute budget, is what is being exercised.
  process.env.AGENT_RATE_LIMIT_PER_MINUTE = "1000000";
  // A fully configured deployment, so every check runs; nothing leaves the machine.
  dev = await startTestStack({
    GMAIL_PUSH_AUDIENCE: "https://app.example.com/webhook/email",
    GMAIL_PUSH_SERVICE_ACCOUNT: "gmail-push@example.iam.gserviceaccount.com",
    GOOGLE_OIDC_CERTS_URL: "http://127.0.0.1:9/oauth2/v1/certs",
    // A configured OAuth client whose Google is unreachable: no probe carries a state that verifies,
    // so none gets as far as Google.
    GOOGLE_OAUTH_CLIENT_ID: "fuzz-client.apps.googleusercontent.com",
    GOOGLE_OAUTH_CLIENT_SECRET: "fuzz-secret",
    GOOGLE_OAUTH_TOKEN_URL: "http://127.0.0.1:9/token",
  });
  user = await createUser();
  token = await tokenFor(user);
});

afterAll(async () => {
  await dev?.close();
});

const prng = seeded;

const hostileValues: unknown[] = [
  null,
  -1,
  0,
  1e308,
  Number.MAX_SAFE_INTEGER + 2,
  3.14,
  true,
  "",
  " ",
  "x".repeat(20_000),
  "\u0000\u0001\u202e",
  "𝔘𝔫𝔦𝔠𝔬𝔡𝔢 🧨",
  "' or 1=1 --",
  "<script>alert(1)</script>",
  "../../../../etc/passwd",
  "2026-02-30T25:61:00Z",
  "00000000-0000-0000-0000-000000000000",
  [],
  [null, 1, "a"],
  Array.from({ length: 500 }, (_, i) => i),
  {},
  { __proto__: { polluted: true }, constructor: { prototype: { polluted: true } } },
  { $gt: "" },
];

interface JsonSchema {
  type?: string | string[];
  properties?: Record<string, JsonSchema>;
  required?: string[];
  items?: JsonSchema;
  enum?: unknown[];
  format?: string;
  minimum?: number;
  minLength?: number;
  anyOf?: JsonSchema[];
  oneOf?: JsonSchema[];
}

/** A plausible value for a schema: the base the mutations break one property of. */
function sample(schema: JsonSchema | undefined, own: string): unknown {
  if (!schema) {
    return "x";
  }
  const variant = schema.anyOf?.[0] ?? schema.oneOf?.[0];
  if (variant) {
    return sample(variant, own);
  }
  if (schema.enum?.length) {
    return schema.enum[0];
  }
  const type = Array.isArray(schema.type) ? schema.type[0] : schema.type;
  switch (type) {
    case "object":
      return Object.fromEntries(
        (schema.required ?? []).map((key) => [
          key,
          key === "user_id" ? own : sample(schema.properties?.[key], own),
        ]),
      );
    case "array":
      return [sample(schema.items, own)];
    case "integer":
    case "number":
      return schema.minimum ?? 1;
    case "boolean":
      return false;
    default:
      if (schema.format === "uuid") {
        return randomUUID();
      }
      if (schema.format === "date-time") {
        return new Date(Date.now() + 86_400_000).toISOString();
      }
      if (schema.format === "uri") {
        return "https://example.com/";
      }
      return "x".repeat(Math.max(1, schema.minLength ?? 1));
  }
}

interface Probe {
  label: string;
  method: string;
  path: string;
  headers: Record<string, string>;
  body?: string;
}

function deepJson(depth: number): string {
  return `${'{"a":'.repeat(depth)}1${"}".repeat(depth)}`;
}

function bodyProbes(schema: JsonSchema | undefined, own: string, random: () => number): [string, string][] {
  const probes: [string, string][] = [];
  const base = (sample(schema, own) ?? {}) as Record<string, unknown>;
  const properties = Object.keys(schema?.properties ?? {});
  for (const property of properties) {
    for (const value of hostileValues) {
      if (random() < 0.9) {
        probes.push([
          `${property}=${JSON.stringify(value)?.slice(0, 30)}`,
          JSON.stringify({ ...base, [property]: value }),
        ]);
      }
    }
  }
  for (const property of schema?.required ?? []) {
    const { [property]: _dropped, ...rest } = base;
    probes.push([`without ${property}`, JSON.stringify(rest)]);
  }
  for (const value of [null, [], 1, "x", true, [base]]) {
    probes.push([`body ${JSON.stringify(value).slice(0, 20)}`, JSON.stringify(value)]);
  }
  probes.push(
    ["nested 5000 deep", deepJson(5000)],
    ["nested in a property", JSON.stringify({ ...base, context: JSON.parse(deepJson(200)) })],
    ["truncated JSON", JSON.stringify(base).slice(0, -1)],
    ["trailing garbage", `${JSON.stringify(base)}}}`],
    ["NaN", '{"user_id": NaN}'],
    ["BOM", `\ufeff${JSON.stringify(base)}`],
    ["duplicate keys", `{"user_id":"${own}","user_id":"${randomUUID()}"}`],
    ["oversized", JSON.stringify({ ...base, prompt: "y".repeat(1_100_000) })],
    ["a 450,000-element array", `[${"0,".repeat(450_000)}0]`],
    [
      "a 300,000-element array inside",
      JSON.stringify({ ...base, context: { list: new Array(300_000).fill(0) } }),
    ],
    ["empty", ""],
  );
  return probes;
}

/** Header values as raw UTF-8 bytes, as a client that does not encode them would send them. */
const rawHeaders = (headers: Record<string, string>) =>
  Object.fromEntries(Object.entries(headers).map(([k, v]) => [k, Buffer.from(v, "utf8").toString("latin1")]));

async function send(probe: Probe): Promise<{ status: number; type: string; text: string }> {
  const response = await fetch(`${dev.url}${probe.path}`, {
    method: probe.method,
    headers: rawHeaders(probe.headers),
    // A redirect (to Google's consent screen) is the answer; the fuzz does not leave the machine.
    redirect: "manual",
    ...(probe.body !== undefined ? { body: probe.body } : {}),
  });
  return {
    status: response.status,
    type: response.headers.get("content-type") ?? "",
    text: await response.text(),
  };
}

/** Sends the probes 24 at a time; answers what `judge` found wrong, one line per probe. */
async function sendAll(
  probes: Probe[],
  judge: (probe: Probe, answer: Awaited<ReturnType<typeof send>>) => string | undefined,
): Promise<string[]> {
  const failures: string[] = [];
  for (let i = 0; i < probes.length; i += 24) {
    const batch = probes.slice(i, i + 24);
    const answers = await Promise.all(batch.map((probe) => send(probe)));
    answers.forEach((answer, index) => {
      const failure = judge(batch[index] as Probe, answer);
      if (failure) {
        failures.push(failure);
      }
    });
  }
  return failures;
}

describe("fuzz", () => {
  it("thousands of malformed requests over every endpoint: no 5xx, always the envelope, the process stays up", async () => {
    const seed = Number(process.env.FUZZ_SEED ?? 20_261_125);
    const random = prng(seed);
    const doc = (await (await fetch(`${dev.url}/openapi.json`)).json()) as {
      paths: Record<
        string,
        Record<
          string,
          {
            parameters?: { in: string; name: string }[];
            requestBody?: { content: Record<string, { schema: JsonSchema }> };
          }
        >
      >;
    };
    const stranger = randomUUID();
    const auth = `Bearer ${token}`;
    const hostileHeaders: Record<string, string>[] = [
      {},
      { authorization: "Bearer" },
      { authorization: "Bearer a.b.c" },
      { authorization: `Basic ${Buffer.from("a:b").toString("base64")}` },
      { authorization: `Bearer ${"A".repeat(6000)}` },
      { authorization: auth, "idempotency-key": "has spaces and ✓" },
      { authorization: auth, "idempotency-key": "k".repeat(300) },
      { authorization: auth, "content-type": "application/json; charset=utf-16" },
    ];
    const probes: Probe[] = [];
    for (const [template, item] of Object.entries(doc.paths)) {
      for (const [method, operation] of Object.entries(item)) {
        const path = template.replace("{user_id}", user);
        const json = operation.requestBody?.content["application/json"]?.schema;
        const upper = method.toUpperCase();
        if (json || operation.requestBody) {
          for (const [label, body] of bodyProbes(json, user, random)) {
            probes.push({
              label: `${upper} ${template} ${label}`,
              method: upper,
              path,
              headers: { authorization: auth, "content-type": "application/json" },
              body,
            });
          }
          for (const type of [
            "text/plain",
            "application/xml",
            "multipart/form-data; boundary=x",
            "application/x-www-form-urlencoded",
          ]) {
            probes.push({
              label: `${upper} ${template} as ${type}`,
              method: upper,
              path,
              headers: { authorization: auth, "content-type": type },
              body: "user_id=1&<a/>",
            });
          }
        }
        for (const headers of hostileHeaders) {
          probes.push({
            label: `${upper} ${template} headers ${JSON.stringify(headers).slice(0, 60)}`,
            method: upper,
            path,
            headers: { "content-type": "application/json", ...headers },
            ...(upper === "GET" ? {} : { body: JSON.stringify({ user_id: user }) }),
          });
        }
        for (const parameter of operation.parameters ?? []) {
          const values = [
            "-1",
            "0",
            "1e9",
            "abc",
            "%E0%A4%A",
            "%00",
            "a%00b",
            "x".repeat(5000),
            "null",
            "[]",
            "🧨",
            "' or 1=1",
          ];
          for (const value of values) {
            if (parameter.in === "query") {
              probes.push({
                label: `${upper} ${template} ?${parameter.name}=${value.slice(0, 20)}`,
                method: upper,
                path: `${path}?${parameter.name}=${value}&${parameter.name}=${value}`,
                headers: { authorization: auth },
              });
            } else if (parameter.in === "path") {
              probes.push({
                label: `${upper} ${template} path ${value.slice(0, 20)}`,
                method: upper,
                path: template.replace(`{${parameter.name}}`, value),
                headers: { authorization: auth },
              });
            } else if (parameter.in === "header" && parameter.name !== "authorization") {
              probes.push({
                label: `${upper} ${template} ${parameter.name}: ${value.slice(0, 20)}`,
                method: upper,
                path,
                headers: { authorization: auth, "content-type": "application/json", [parameter.name]: value },
                ...(upper === "GET" ? {} : { body: "{}" }),
              });
            }
          }
        }
        probes.push({
          label: `${upper} ${template} another user's id`,
          method: upper,
          path: template.replace("{user_id}", stranger),
          headers: { authorization: auth, "content-type": "application/json" },
          ...(upper === "GET" ? {} : { body: JSON.stringify({ user_id: stranger, prompt: "x" }) }),
        });
      }
    }
    // The functions the document leaves out: QStash workers and crons, unsigned.
    for (const path of qstashDestinations) {
      for (const [label, body] of bodyProbes(undefined, user, random).slice(0, 12)) {
        probes.push({
          label: `POST ${path} ${label}`,
          method: "POST",
          path,
          headers: { "upstash-signature": "x.y.z" },
          body,
        });
      }
    }
    for (const method of ["PUT", "PATCH", "DELETE", "OPTIONS", "HEAD"]) {
      probes.push({
        label: `${method} /api/leads`,
        method,
        path: `/api/leads/${user}`,
        headers: { authorization: auth },
      });
    }
    probes.push({ label: "unknown path", method: "GET", path: "/api/nothing/here", headers: {} });

    const failures = await sendAll(probes, (probe, answer) => {
      if (answer.status >= 500) {
        return `${probe.label} → ${answer.status} ${answer.text.slice(0, 200)}`;
      } else if (answer.status >= 400 && answer.type.includes("json")) {
        const body = JSON.parse(answer.text) as {
          success?: boolean;
          error?: { code?: string; message?: string };
        };
        if (body.success !== false || !body.error?.code || !body.error.message) {
          return `${probe.label} → ${answer.status} without the envelope: ${answer.text.slice(0, 200)}`;
        }
      } else if (answer.status >= 400 && probe.method !== "HEAD" && !answer.type.includes("html")) {
        return `${probe.label} → ${answer.status} as ${answer.type}`;
      }
      return undefined;
    });
    expect(probes.length).toBeGreaterThan(2000);
    expect(failures, `seed ${seed}`).toEqual([]);
    const health = await fetch(`${dev.url}/api/health`);
    expect(health.status).toBe(200);
  }, 600_000);

  it("the local Supabase surface (/rest/v1, /auth/v1) under the same treatment: never a 5xx, always the service's error shape", async () => {
    const seed = Number(process.env.FUZZ_SEED ?? 20_261_203);
    const random = prng(seed);
    const { serviceDb } = await import("../lib/db/service");
    const { sql } = await import("drizzle-orm");
    const { rowsOf } = await import("../lib/db/client");
    const tables = rowsOf<{ table_name: string }>(
      await (await serviceDb()).execute(
        sql`select table_name from information_schema.tables where table_schema = 'public' order by 1`,
      ),
    ).map((row) => row.table_name);
    const key = (await import("./support/helpers")).secrets.supabasePublishableKey;
    const base = { apikey: key, authorization: `Bearer ${token}` };
    const pick = <T>(list: readonly T[]): T => list[Math.floor(random() * list.length)] as T;
    // The pieces of PostgREST's grammar, valid and broken, recombined at random.
    const columns = [
      "id",
      "*",
      "status",
      "nope",
      "workspace_id",
      "a:id",
      "id::text",
      "id::bogus",
      "data->>x",
      "",
      "(",
      "workspaces(*)",
      "x!inner(*)",
      "leads!fk(id)",
    ];
    const operators = [
      "eq",
      "neq",
      "gt",
      "gte",
      "lt",
      "lte",
      "like",
      "ilike",
      "in",
      "is",
      "cs",
      "cd",
      "not.eq",
      "fts",
      "bogus",
      "",
    ];
    const values = [
      "1",
      "null",
      "true",
      "(1,2)",
      "{a,b}",
      "%",
      "*x*",
      "'; drop table leads; --",
      "\u0000",
      "x".repeat(3000),
      "🧨",
      "(",
      ")",
      ",",
      "2026-02-30",
      "00000000-0000-0000-0000-000000000000",
    ];
    const query = () => {
      const parts: string[] = [];
      const n = 1 + Math.floor(random() * 4);
      for (let i = 0; i < n; i++) {
        switch (Math.floor(random() * 6)) {
          case 0:
            parts.push(`select=${encodeURIComponent([pick(columns), pick(columns)].join(","))}`);
            break;
          case 1:
            parts.push(`${pick(columns)}=${encodeURIComponent(`${pick(operators)}.${pick(values)}`)}`);
            break;
          case 2:
            parts.push(
              `or=${encodeURIComponent(`(${pick(columns)}.${pick(operators)}.${pick(values)},and(${pick(columns)}.eq.${pick(values)}))`)}`,
            );
            break;
          case 3:
            parts.push(
              `order=${encodeURIComponent(`${pick(columns)}.${pick(["asc", "desc", "nullsfirst", "x"])}`)}`,
            );
            break;
          case 4:
            parts.push(`${pick(["limit", "offset"])}=${pick(["-1", "0", "1e9", "x", "10"])}`);
            break;
          default:
            parts.push(`${pick(["on_conflict", "columns", "select"])}=${encodeURIComponent(pick(values))}`);
        }
      }
      return parts.join("&");
    };
    const headerSets: Record<string, string>[] = [
      {},
      { prefer: "return=representation" },
      { prefer: "count=exact, return=minimal" },
      { prefer: "resolution=merge-duplicates,missing=default" },
      { prefer: "tx=rollback, bogus" },
      { range: "0-9" },
      { range: "9-0" },
      { range: "x" },
      { accept: "application/vnd.pgrst.object+json" },
      { accept: "text/csv" },
      { accept: "application/xml" },
      { "accept-profile": "private" },
      { "content-profile": "auth" },
      { authorization: "Bearer a.b.c" },
      { authorization: `Bearer ${"A".repeat(6000)}` },
      { apikey: "" },
    ];
    const probes: Probe[] = [];
    for (const table of [...tables, "no_such_table", "pg_user", "..%2Fauth%2Fusers", "rpc/nope", ""]) {
      for (let i = 0; i < 40; i++) {
        const method = pick(["GET", "HEAD", "POST", "PATCH", "DELETE", "PUT"]);
        const headers = { ...base, "content-type": "application/json", ...pick(headerSets) };
        const body =
          method === "GET" || method === "HEAD"
            ? undefined
            : pick([
                JSON.stringify({ [pick(columns)]: pick(hostileValues) }),
                JSON.stringify([{ id: pick(hostileValues) }, {}]),
                JSON.stringify(pick(hostileValues)),
                "{",
                deepJson(3000),
                "",
              ]);
        probes.push({
          label: `${method} /rest/v1/${table}?… ${JSON.stringify(headers).slice(0, 40)}`,
          method,
          path: `/rest/v1/${table}?${query()}`,
          headers,
          ...(body === undefined ? {} : { body }),
        });
      }
    }
    const authPaths = [
      "/signup",
      "/token?grant_type=password",
      "/token?grant_type=refresh_token",
      "/token?grant_type=pkce",
      "/token?grant_type=x",
      "/otp",
      "/verify",
      "/user",
      "/logout?scope=x",
      "/settings",
      "/nowhere",
      "/verify?token=x&type=signup&redirect_to=javascript:alert(1)",
    ];
    const authFields = [
      "email",
      "password",
      "refresh_token",
      "auth_code",
      "code_verifier",
      "type",
      "token",
      "token_hash",
      "data",
      "create_user",
      "code_challenge",
    ];
    for (const path of authPaths) {
      for (let i = 0; i < 30; i++) {
        const method = pick(["POST", "GET", "PUT", "DELETE"]);
        const body = JSON.stringify(
          Object.fromEntries(
            authFields.filter(() => random() < 0.4).map((field) => [field, pick(hostileValues)]),
          ),
        );
        probes.push({
          label: `${method} /auth/v1${path} ${body.slice(0, 60)}`,
          method,
          path: `/auth/v1${path}`,
          headers: {
            apikey: key,
            "content-type": "application/json",
            ...(random() < 0.5 ? { authorization: pick(["Bearer x", `Bearer ${token}`, "Bearer"]) } : {}),
          },
          ...(method === "GET" ? {} : { body: random() < 0.1 ? "{" : body }),
        });
      }
    }

    const failures = await sendAll(probes, (probe, answer) => {
      if (answer.status >= 500) {
        return `${probe.label} → ${answer.status} ${answer.text.slice(0, 200)}`;
      } else if (answer.status >= 400 && probe.method !== "HEAD") {
        // PostgREST's { code, message }, Auth's { error_code, msg } or the gateway's { message }.
        let body: Record<string, unknown> | null = null;
        try {
          body = JSON.parse(answer.text) as Record<string, unknown> | null;
        } catch {
          body = null;
        }
        if (!body || !(typeof body.message === "string" || typeof body.msg === "string")) {
          return `${probe.label} → ${answer.status} without an error shape: ${answer.text.slice(0, 200)}`;
        }
      }
      return undefined;
    });
    expect(probes.length).toBeGreaterThan(1000);
    expect(failures, `seed ${seed}`).toEqual([]);
    const health = await fetch(`${dev.url}/api/health`);
    expect(health.status).toBe(200);
  }, 600_000);
});
