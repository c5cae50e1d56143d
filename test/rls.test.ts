import { randomUUID } from "node:crypto";
import { getTableColumns, sql } from "drizzle-orm";
import type { PgTable } from "drizzle-orm/pg-core";
import { beforeAll, describe, expect, it } from "vitest";
import { asUser } from "../lib/db/as-user";
import { rowsOf } from "../lib/db/client";
import * as schema from "../lib/db/schema";
import { serviceDb } from "../lib/db/service";
import { addMember, createUser } from "./support/helpers";

/**
 * Row-level security and column privileges as a persona matrix over every table: the workspace's
 * owner, an admin and a member, a member of another workspace, a user invited but not yet accepted,
 * `anon`, and the service role. Every statement runs exactly as PostgREST runs it: `set local role
 * authenticated` (or anon) and `request.jwt.claims` with the user's claims. For each table the
 * browser may write, every column it must not write is attempted, and the row is read back as the
 * service to show it unchanged.
 */
type Persona = "owner" | "admin" | "member" | "stranger" | "invitee" | "anon" | "service";
const signedIn = ["owner", "admin", "member", "stranger", "invitee"] as const;

const ids: Record<"owner" | "admin" | "member" | "stranger" | "invitee", string> = {
  owner: "",
  admin: "",
  member: "",
  stranger: "",
  invitee: "",
};
const emails: Record<string, string> = {};
/** The shared workspace (the owner's personal one) and the stranger's. */
let workspace = "";
let elsewhere = "";

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
  if (persona !== "anon" && persona !== "service") {
    const id = ids[persona];
    return run((text) =>
      asUser({ id, claims: { email: emails[persona] } }, (tx) => tx.execute(sql.raw(text))),
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

async function service(statement: string): Promise<Record<string, unknown>[]> {
  const result = await as("service", statement);
  expect(result.error, statement).toBeUndefined();
  return result.rows;
}

/** One row in each business table of a workspace, made by `user`; returns its id. */
const business: Record<string, (ws: string, user: string) => string> = {
  agent_tasks: (ws, u) =>
    `insert into public.agent_tasks (workspace_id, user_id, agent_name, input) values ('${ws}', '${u}', 'engineer', '{"prompt":"x"}')`,
  campaigns: (ws, u) =>
    `insert into public.campaigns (workspace_id, user_id, name) values ('${ws}', '${u}', 'RLS campaign')`,
  leads: (ws, u) =>
    `insert into public.leads (workspace_id, user_id, name, email) values ('${ws}', '${u}', 'RLS lead', '${randomUUID()}@lead.example')`,
  email_events: (ws, u) =>
    `insert into public.email_events (workspace_id, user_id, event_type, to_email, subject, body_text) values ('${ws}', '${u}', 'drafted', 'lead@lead.example', 'Hello', 'Body')`,
  product_insights: (ws, u) =>
    `insert into public.product_insights (workspace_id, user_id, title) values ('${ws}', '${u}', 'RLS insight')`,
  calendar_events: (ws, u) =>
    `insert into public.calendar_events (workspace_id, user_id, title, start_time) values ('${ws}', '${u}', 'RLS meeting', now())`,
  call_scripts: (ws, u) =>
    `insert into public.call_scripts (workspace_id, user_id, script) values ('${ws}', '${u}', '{}')`,
  alerts: (ws, u) =>
    `insert into public.alerts (workspace_id, user_id, type, message) values ('${ws}', '${u}', 'test', 'RLS alert')`,
  email_suppressions: (ws, u) =>
    `insert into public.email_suppressions (workspace_id, user_id, email, reason) values ('${ws}', '${u}', '${randomUUID()}@gone.example', 'manual')`,
  mailboxes: (ws) =>
    `insert into public.mailboxes (workspace_id, address) values ('${ws}', '${randomUUID()}@mail.example')`,
  calendars: (ws) =>
    `insert into public.calendars (workspace_id, google_calendar_id) values ('${ws}', 'primary')`,
};

const serviceOnly: Record<string, () => string> = {
  scrapes: () => {
    const key = `https://example.com/${randomUUID()}`;
    return `insert into public.scrapes (url, url_key, domain) values ('${key}', '${key}', 'example.com')`;
  },
  webhook_events: () =>
    `insert into public.webhook_events (source, event_id, event_type, payload) values ('task', '${randomUUID()}', 'task.completed', '{}')`,
  domain_backoff: () =>
    `insert into public.domain_backoff (domain, backoff_until) values ('${randomUUID()}.example', now())`,
  google_connections: () =>
    `insert into public.google_connections (workspace_id, kind, email) values ('${workspace}', 'environment', '${randomUUID()}@google.example')`,
  calendar_channels: () => {
    return `insert into public.calendar_channels (id, calendar_id, resource_id, key_id, expires_at) select '${randomUUID()}', id, 'res', 'k', now() from public.calendars where workspace_id = '${workspace}' limit 1`;
  },
};

const keyColumn = (table: string) => (table === "domain_backoff" ? "domain" : "id");
const rows: Record<string, { here: string; there: string }> = {};

beforeAll(async () => {
  for (const persona of signedIn) {
    emails[persona] = `${persona}-${randomUUID().slice(0, 8)}@example.test`;
    ids[persona] = await createUser(emails[persona]);
  }
  workspace = ids.owner;
  elsewhere = ids.stranger;
  await addMember(workspace, ids.admin, "admin");
  await addMember(workspace, ids.member, "member");
  await service(
    `insert into public.workspace_invitations (workspace_id, email, role, token_hash, invited_by, expires_at)
     values ('${workspace}', '${emails.invitee}', 'member', '${"a".repeat(64)}', '${ids.owner}', now() + interval '7 days')`,
  );
  for (const [table, insert] of Object.entries(business)) {
    const here = String((await service(`${insert(workspace, ids.member)} returning id`))[0]?.id);
    const there = String((await service(`${insert(elsewhere, ids.stranger)} returning id`))[0]?.id);
    rows[table] = { here, there };
  }
});

const visible = async (persona: Persona, table: string, id: string) => {
  const result = await as(persona, `select id from public.${table} where id = '${id}'`);
  expect(result.error, `${persona} select ${table}`).toBeUndefined();
  return result.rows.length === 1;
};

describe("reading: every table, every persona", () => {
  // Alerts are read by their recipient only; the row above is addressed to the member.
  const readers: Record<string, Partial<Record<Persona, boolean>>> = {
    alerts: { owner: false, admin: false, member: true, stranger: false, invitee: false },
  };

  it.each(Object.keys(business))(
    "%s: the workspace's members see its rows; nobody else does",
    async (table) => {
      const expected = {
        owner: true,
        admin: true,
        member: true,
        stranger: false,
        invitee: false,
        ...readers[table],
      };
      for (const persona of signedIn) {
        expect(await visible(persona, table, rows[table]?.here ?? ""), `${persona} reads ${table}`).toBe(
          expected[persona],
        );
      }
      // The stranger reads their own workspace's row.
      expect(await visible("stranger", table, rows[table]?.there ?? "")).toBe(true);
      expect((await as("anon", `select id from public.${table}`)).error).toMatch(/permission denied/);
      expect(await visible("service", table, rows[table]?.here ?? "")).toBe(true);
    },
  );

  it("workspaces and members: members see their workspaces and who is in them; nobody else", async () => {
    for (const persona of signedIn) {
      const member = ["owner", "admin", "member"].includes(persona);
      expect(await visible(persona, "workspaces", workspace), persona).toBe(member);
      const people = await as(
        persona,
        `select user_id from public.workspace_members where workspace_id = '${workspace}'`,
      );
      expect(people.rows.length, persona).toBe(member ? 3 : 0);
    }
    expect((await as("anon", "select id from public.workspaces")).error).toMatch(/permission denied/);
  });

  it("invitations: owners, admins and the invitee see them, never the token's hash", async () => {
    const columns = "id, email, role, expires_at";
    for (const persona of signedIn) {
      const result = await as(
        persona,
        `select ${columns} from public.workspace_invitations where workspace_id = '${workspace}'`,
      );
      expect(result.rows.length, persona).toBe(["owner", "admin", "invitee"].includes(persona) ? 1 : 0);
      const hash = await as(persona, "select token_hash from public.workspace_invitations");
      expect(hash.error, persona).toMatch(/permission denied/);
    }
  });

  it.each(Object.entries(serviceOnly))(
    "%s (service only): every statement is refused",
    async (table, insert) => {
      await service(insert());
      for (const persona of [...signedIn, "anon"] as const) {
        for (const statement of [
          `select * from public.${table}`,
          insert(),
          `update public.${table} set updated_at = now()`,
          `delete from public.${table}`,
        ]) {
          const result = await as(persona, statement);
          expect(result.error, `${persona}: ${statement}`).toMatch(/permission denied/);
        }
      }
      const key = keyColumn(table);
      expect((await as("service", `select ${key} from public.${table} limit 1`)).rows.length).toBe(1);
    },
  );
});

/** A literal of the column's type that differs from any value the fixtures hold. */
function literal(column: { columnType: string; name: string; baseColumn?: { columnType: string } }): string {
  switch (column.columnType) {
    case "PgUUID":
      return `'${randomUUID()}'`;
    case "PgInteger":
      return "7";
    case "PgNumeric":
      return "0";
    case "PgBoolean":
      return "true";
    case "PgJsonb":
      return `'{"forged":true}'`;
    case "PgTimestampString":
      return "now() - interval '1 day'";
    case "PgArray":
      return column.baseColumn?.columnType === "PgUUID" ? `'{${randomUUID()}}'` : "'{forged}'";
    default:
      return column.name.includes("email") ? "'victim@anywhere.example'" : "'forged'";
  }
}

/** What the browser may write, per table and command (everything else is the service's). */
const writable: Record<string, { update: string[] }> = {
  agent_tasks: { update: [] },
  // time_zone: a member's explicit zone (a trigger records it as such and checks it; test/mailboxes.test.ts).
  leads: { update: ["status", "notes", "tags", "time_zone"] },
  email_events: { update: ["subject", "body_text", "body_html"] },
  alerts: { update: ["read"] },
  workspaces: {
    update: [
      "name",
      "postal_address",
      "time_zone",
      "working_hours",
      "working_days",
      "sending_hours",
      "sending_days",
      "skip_holidays",
      "accept_foreign_contacts",
    ],
  },
};
const tableOf = (name: string): PgTable =>
  ({ ...schema.userTables, ...schema.tenancyTables, ...schema.workspaceReadTables })[
    name as keyof typeof schema.userTables
  ] as PgTable;

describe("writing: every column the browser must not write, refused and without effect", () => {
  const forbiddenUpdates = [...Object.keys(business), "workspaces"].flatMap((table) =>
    Object.values(getTableColumns(tableOf(table)))
      .filter((column) => !(writable[table]?.update ?? []).includes(column.name))
      .map((column) => [table, column.name] as const),
  );

  it.each(forbiddenUpdates)("%s.%s: an update as the owner is refused", async (table, name) => {
    const column = getTableColumns(tableOf(table))[name as never] as Parameters<typeof literal>[0];
    const id = table === "workspaces" ? workspace : (rows[table]?.here ?? "");
    const before = await service(`select * from public.${table} where id = '${id}'`);
    const result = await as(
      "owner",
      `update public.${table} set "${name}" = ${literal(column)} where id = '${id}'`,
    );
    expect(result.error, `${table}.${name}`).toMatch(/permission denied/);
    expect(await service(`select * from public.${table} where id = '${id}'`)).toEqual(before);
  });

  const agentTaskColumns = Object.values(getTableColumns(schema.agentTasks))
    .map((column) => column.name)
    .filter((name) => !["workspace_id", "user_id", "agent_name", "input", "external_id"].includes(name));
  it.each(agentTaskColumns)("agent_tasks.%s: a task inserted with it is refused", async (name) => {
    const column = getTableColumns(schema.agentTasks)[name as never] as { columnType: string; name: string };
    const result = await as(
      "member",
      `insert into public.agent_tasks (workspace_id, agent_name, input, "${name}") values ('${workspace}', 'engineer', '{}', ${literal(column)})`,
    );
    expect(result.error, name).toMatch(/permission denied/);
  });

  it("agent_tasks: a member starts a queued task in their workspace, as themselves only", async () => {
    const started = await as(
      "member",
      `insert into public.agent_tasks (workspace_id, agent_name, input) values ('${workspace}', 'engineer', '{"prompt":"hi"}') returning id, status, user_id`,
    );
    expect(started.error).toBeUndefined();
    expect(started.rows[0]).toMatchObject({ status: "queued", user_id: ids.member });
    const asOther = await as(
      "member",
      `insert into public.agent_tasks (workspace_id, user_id, agent_name, input) values ('${workspace}', '${ids.owner}', 'engineer', '{}')`,
    );
    expect(asOther.error).toMatch(/row-level security/);
    for (const persona of ["stranger", "invitee"] as const) {
      const foreign = await as(
        persona,
        `insert into public.agent_tasks (workspace_id, agent_name, input) values ('${workspace}', 'engineer', '{}')`,
      );
      expect(foreign.error, persona).toMatch(/row-level security/);
    }
    for (const statement of [
      `update public.agent_tasks set input = '{}' where id = '${rows.agent_tasks?.here}'`,
      `delete from public.agent_tasks where id = '${rows.agent_tasks?.here}'`,
    ]) {
      expect((await as("owner", statement)).error, statement).toMatch(/permission denied/);
    }
  });

  it("the tables the browser only reads: inserts, updates and deletes are refused", async () => {
    const readOnly = [
      "campaigns",
      "product_insights",
      "calendar_events",
      "call_scripts",
      "email_suppressions",
      "mailboxes",
      "calendars",
      "workspace_members",
      "workspace_invitations",
    ];
    for (const table of readOnly) {
      const insert =
        business[table]?.(workspace, ids.owner) ??
        (table === "workspace_members"
          ? `insert into public.workspace_members (workspace_id, user_id, role) values ('${workspace}', '${ids.stranger}', 'owner')`
          : `insert into public.workspace_invitations (workspace_id, email, token_hash, expires_at) values ('${workspace}', 'x@example.test', '${"b".repeat(64)}', now())`);
      for (const statement of [
        insert,
        `update public.${table} set updated_at = now()`,
        `delete from public.${table}`,
      ]) {
        expect((await as("owner", statement)).error, `${table}: ${statement}`).toMatch(/permission denied/);
      }
    }
    const join = await as(
      "stranger",
      `insert into public.workspace_members (workspace_id, user_id, role) values ('${workspace}', '${ids.stranger}', 'owner')`,
    );
    expect(join.error).toMatch(/permission denied/);
  });

  it("leads: a member sets status, notes and tags; never bounced or unsubscribed, never back from them", async () => {
    const id = rows.leads?.here ?? "";
    const set = await as(
      "member",
      `update public.leads set status = 'qualified', notes = 'Called, keen', tags = '{warm}' where id = '${id}' returning status, history`,
    );
    expect(set.error).toBeUndefined();
    expect(set.rows[0]?.status).toBe("qualified");
    expect(JSON.stringify(set.rows[0]?.history)).toContain("status_set");
    for (const status of ["bounced", "unsubscribed"]) {
      const refused = await as("member", `update public.leads set status = '${status}' where id = '${id}'`);
      expect(refused.error, status).toMatch(/set by the service/);
    }
    await service(`update public.leads set status = 'unsubscribed' where id = '${id}'`);
    const back = await as("owner", `update public.leads set status = 'new' where id = '${id}'`);
    expect(back.error).toMatch(/stays so/);
    const elsewhereLead = await as(
      "member",
      `update public.leads set notes = 'x' where id = '${rows.leads?.there}' returning id`,
    );
    expect(elsewhereLead.rows).toHaveLength(0);
  });

  it("email_events: the author edits a draft's text, which sends it back to review; only a draft", async () => {
    const id = rows.email_events?.here ?? "";
    await service(
      `update public.email_events set event_type = 'approved', metadata = '{"approved_at":"2026-01-01","checked_hash":"abc","needs_review":false}' where id = '${id}'`,
    );
    const edited = await as(
      "member",
      `update public.email_events set body_text = 'New text' where id = '${id}' returning event_type, metadata`,
    );
    expect(edited.error).toBeUndefined();
    expect(edited.rows[0]?.event_type).toBe("drafted");
    const metadata = edited.rows[0]?.metadata as Record<string, unknown>;
    expect(metadata.needs_review).toBe(true);
    expect(metadata.approved_at).toBeUndefined();
    expect(metadata.edited_by).toBe(ids.member);
    // Not the member's own draft: only an admin may edit it.
    const ownersDraft = String(
      (await service(`${business.email_events?.(workspace, ids.owner)} returning id`))[0]?.id,
    );
    expect(
      (
        await as(
          "member",
          `update public.email_events set subject = 'x' where id = '${ownersDraft}' returning id`,
        )
      ).rows,
    ).toHaveLength(0);
    expect(
      (
        await as(
          "admin",
          `update public.email_events set subject = 'x' where id = '${ownersDraft}' returning id`,
        )
      ).rows,
    ).toHaveLength(1);
    // A sent email's text is history.
    await service(`update public.email_events set event_type = 'sent' where id = '${ownersDraft}'`);
    expect(
      (
        await as(
          "owner",
          `update public.email_events set subject = 'y' where id = '${ownersDraft}' returning id`,
        )
      ).rows,
    ).toHaveLength(0);
    expect(
      (await as("owner", `delete from public.email_events where id = '${ownersDraft}' returning id`)).rows,
    ).toHaveLength(0);
    // The author deletes their own draft; nobody else does.
    expect(
      (await as("owner", `delete from public.email_events where id = '${id}' returning id`)).rows,
    ).toHaveLength(0);
    expect(
      (await as("member", `delete from public.email_events where id = '${id}' returning id`)).rows,
    ).toHaveLength(1);
  });

  it("alerts: the recipient marks an alert read (the time is the database's); nobody else can", async () => {
    const id = rows.alerts?.here ?? "";
    expect(
      (await as("owner", `update public.alerts set read = true where id = '${id}' returning id`)).rows,
    ).toHaveLength(0);
    const read = await as(
      "member",
      `update public.alerts set read = true where id = '${id}' returning read, read_at`,
    );
    expect(read.rows[0]?.read).toBe(true);
    expect(read.rows[0]?.read_at).toBeTruthy();
  });

  it("workspaces: owners and admins edit the settings a person keeps; members and strangers cannot", async () => {
    expect(
      (
        await as(
          "admin",
          `update public.workspaces set name = 'Renamed' where id = '${workspace}' returning id`,
        )
      ).rows,
    ).toHaveLength(1);
    expect(
      (
        await as(
          "member",
          `update public.workspaces set name = 'Mine' where id = '${workspace}' returning id`,
        )
      ).rows,
    ).toHaveLength(0);
    expect(
      (
        await as(
          "stranger",
          `update public.workspaces set name = 'Mine' where id = '${workspace}' returning id`,
        )
      ).rows,
    ).toHaveLength(0);
    const badZone = await as(
      "owner",
      `update public.workspaces set time_zone = 'Mars/Olympus' where id = '${workspace}'`,
    );
    expect(badZone.error).toMatch(/time zone/);
    expect((await service(`select name from public.workspaces where id = '${workspace}'`))[0]?.name).toBe(
      "Renamed",
    );
  });
});

describe("references stay inside a workspace", () => {
  it("a row cannot point at another workspace's row even though foreign keys bypass RLS", async () => {
    const result = await as(
      "service",
      `insert into public.email_events (workspace_id, user_id, lead_id, event_type) values ('${workspace}', '${ids.owner}', '${rows.leads?.there}', 'drafted')`,
    );
    expect(result.error).toMatch(/foreign key/);
  });

  it("a new user gets a personal workspace with the same id, and owns it", async () => {
    const id = await createUser();
    const [row] = await service(
      `select w.personal, m.role from public.workspaces w join public.workspace_members m on m.workspace_id = w.id where w.id = '${id}' and m.user_id = '${id}'`,
    );
    expect(row).toEqual({ personal: true, role: "owner" });
  });
});
