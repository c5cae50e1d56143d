import { sql } from "drizzle-orm";
import { beforeAll, describe, expect, it } from "vitest";
import { asUser } from "../lib/db/as-user";
import { rowsOf } from "../lib/db/client";
import { serviceDb } from "../lib/db/service";
import { createUser } from "./support/helpers";

/**
 * Row-level security as a persona matrix (owner → stranger → anonymous → service) over every table,
 * for select, insert, update and delete, through the same role switch PostgREST and asUser() use.
 */
type Persona = "owner" | "stranger" | "anon" | "service";

const userTables: Record<string, (userId: string) => string> = {
  agent_tasks: (u) => `insert into public.agent_tasks (user_id, agent_name) values ('${u}', 'engineer')`,
  campaigns: (u) => `insert into public.campaigns (user_id, name) values ('${u}', 'RLS campaign')`,
  leads: (u) => `insert into public.leads (user_id, name) values ('${u}', 'RLS lead')`,
  email_events: (u) => `insert into public.email_events (user_id, event_type) values ('${u}', 'drafted')`,
  product_insights: (u) =>
    `insert into public.product_insights (user_id, title) values ('${u}', 'RLS insight')`,
  calendar_events: (u) =>
    `insert into public.calendar_events (user_id, title, start_time) values ('${u}', 'RLS meeting', now())`,
  call_scripts: (u) => `insert into public.call_scripts (user_id, script) values ('${u}', '{}')`,
  alerts: (u) => `insert into public.alerts (user_id, type, message) values ('${u}', 'test', 'RLS alert')`,
};

const serviceTables: Record<string, () => string> = {
  scrapes: () => {
    const key = `https://example.com/${crypto.randomUUID()}`;
    return `insert into public.scrapes (url, url_key, domain) values ('${key}', '${key}', 'example.com')`;
  },
  webhook_events: () =>
    `insert into public.webhook_events (source, event_id, event_type, payload) values ('task', '${crypto.randomUUID()}', 'task.completed', '{}')`,
  email_suppressions: () =>
    `insert into public.email_suppressions (user_id, email, reason) values ('${owner}', '${crypto.randomUUID()}@example.com', 'manual')`,
  mailboxes: () => `insert into public.mailboxes (address) values ('${crypto.randomUUID()}@example.com')`,
  calendar_channels: () =>
    `insert into public.calendar_channels (id, calendar_id, resource_id, key_id, expires_at) values ('${crypto.randomUUID()}', 'primary', 'res', 'k', now())`,
  calendar_syncs: () => `insert into public.calendar_syncs (calendar_id) values ('${crypto.randomUUID()}')`,
  domain_backoff: () =>
    `insert into public.domain_backoff (domain, backoff_until) values ('${crypto.randomUUID()}.example', now())`,
};

const keyColumn = (table: string) =>
  table === "domain_backoff" ? "domain" : table === "calendar_syncs" ? "calendar_id" : "id";

let owner: string;
let stranger: string;

interface Outcome {
  rows: Record<string, unknown>[];
  error?: string;
}

async function as(persona: Persona, statement: string): Promise<Outcome> {
  const run = async (execute: (text: string) => Promise<unknown>) => {
    try {
      return { rows: rowsOf<Record<string, unknown>>(await execute(statement)) };
    } catch (error) {
      const cause = (error as { cause?: { message?: string } }).cause;
      return { rows: [], error: cause?.message ?? (error as Error).message };
    }
  };
  if (persona === "owner" || persona === "stranger") {
    return run((text) =>
      asUser({ id: persona === "owner" ? owner : stranger }, (tx) => tx.execute(sql.raw(text))),
    );
  }
  const db = await serviceDb();
  const role = persona === "anon" ? "anon" : "service_role";
  return run((text) =>
    db.transaction(async (tx) => {
      await tx.execute(sql`select set_config('role', ${role}, true)`);
      return tx.execute(sql.raw(text));
    }),
  );
}

async function insertAsService(statement: string, key: string): Promise<string> {
  const result = await as("service", `${statement} returning ${key}`);
  expect(result.error).toBeUndefined();
  return String(result.rows[0]?.[key]);
}

beforeAll(async () => {
  owner = await createUser();
  stranger = await createUser();
});

describe.each(Object.entries(userTables))("RLS on %s (user-owned)", (table, insert) => {
  let ownersRow: string;
  let strangersRow: string;

  beforeAll(async () => {
    ownersRow = await insertAsService(insert(owner), "id");
    strangersRow = await insertAsService(insert(stranger), "id");
  });

  it("owner: selects own rows only", async () => {
    const result = await as("owner", `select id, user_id from public.${table}`);
    expect(result.error).toBeUndefined();
    expect(result.rows.map((r) => r.id)).toContain(ownersRow);
    expect(result.rows.every((r) => r.user_id === owner)).toBe(true);
  });

  it("owner: inserts own rows, never another user's", async () => {
    expect((await as("owner", `${insert(owner)} returning id`)).rows).toHaveLength(1);
    const forged = await as("owner", `${insert(stranger)} returning id`);
    expect(forged.error).toMatch(/row-level security/);
  });

  it("owner: updates own rows; another user's are invisible; cannot give a row away", async () => {
    const own = await as(
      "owner",
      `update public.${table} set metadata = '{"x":1}' where id = '${ownersRow}' returning id`,
    );
    expect(own.rows).toHaveLength(1);
    const other = await as(
      "owner",
      `update public.${table} set metadata = '{"x":1}' where id = '${strangersRow}' returning id`,
    );
    expect(other.error).toBeUndefined();
    expect(other.rows).toHaveLength(0);
    const giveAway = await as(
      "owner",
      `update public.${table} set user_id = '${stranger}' where id = '${ownersRow}'`,
    );
    expect(giveAway.error).toMatch(/row-level security/);
  });

  it("owner: deletes own rows, not another user's", async () => {
    const other = await as("owner", `delete from public.${table} where id = '${strangersRow}' returning id`);
    expect(other.rows).toHaveLength(0);
    const extra = await insertAsService(insert(owner), "id");
    const own = await as("owner", `delete from public.${table} where id = '${extra}' returning id`);
    expect(own.rows).toHaveLength(1);
  });

  it("stranger: sees none of the owner's rows", async () => {
    const result = await as("stranger", `select id from public.${table} where id = '${ownersRow}'`);
    expect(result.error).toBeUndefined();
    expect(result.rows).toHaveLength(0);
  });

  it.each([
    "select id from public.%t",
    "%insert",
    "update public.%t set metadata = '{}'",
    "delete from public.%t",
  ])("anonymous: %s is refused", async (template) => {
    const statement = template === "%insert" ? insert(owner) : template.replace("%t", table);
    const result = await as("anon", statement);
    expect(result.error).toMatch(/permission denied/);
  });

  it("service role: reads every user's rows, writes and deletes any", async () => {
    const all = await as(
      "service",
      `select id from public.${table} where id in ('${ownersRow}', '${strangersRow}')`,
    );
    expect(all.rows).toHaveLength(2);
    const extra = await insertAsService(insert(stranger), "id");
    expect(
      (await as("service", `update public.${table} set metadata = '{}' where id = '${extra}' returning id`))
        .rows,
    ).toHaveLength(1);
    expect(
      (await as("service", `delete from public.${table} where id = '${extra}' returning id`)).rows,
    ).toHaveLength(1);
  });
});

describe.each(Object.entries(serviceTables))("RLS on %s (service only)", (table, insert) => {
  let row: string;
  beforeAll(async () => {
    row = await insertAsService(insert(), keyColumn(table));
  });

  it.each(["owner", "anon"] as const)("%s: every statement is refused", async (persona) => {
    for (const statement of [
      `select * from public.${table}`,
      insert(),
      `update public.${table} set updated_at = now()`,
      `delete from public.${table}`,
    ]) {
      const result = await as(persona, statement);
      expect(result.error, statement).toMatch(/permission denied/);
    }
  });

  it("service role: full access", async () => {
    const key = keyColumn(table);
    expect(
      (await as("service", `select ${key} from public.${table} where ${key} = '${row}'`)).rows,
    ).toHaveLength(1);
    expect(
      (
        await as(
          "service",
          `update public.${table} set updated_at = now() where ${key} = '${row}' returning ${key}`,
        )
      ).rows,
    ).toHaveLength(1);
    expect(
      (await as("service", `delete from public.${table} where ${key} = '${row}' returning ${key}`)).rows,
    ).toHaveLength(1);
  });
});

describe("cross-user references", () => {
  it("a row cannot point at another user's row even though foreign keys bypass RLS", async () => {
    const strangersLead = await insertAsService(userTables.leads?.(stranger) ?? "", "id");
    const result = await as(
      "owner",
      `insert into public.email_events (user_id, lead_id, event_type) values ('${owner}', '${strangersLead}', 'drafted')`,
    );
    expect(result.error).toMatch(/foreign key/);
  });
});
