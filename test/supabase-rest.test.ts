import { randomUUID } from "node:crypto";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { getRequestListener } from "@hono/node-server";
import { createClient, type SupabaseClient } from "@supabase/supabase-js";
import { sql } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { anonCaller, type Caller, verifyAccessToken } from "../dev/supabase/caller";
import { PgrstError } from "../dev/supabase/rest/errors";
import { restHandler } from "../dev/supabase/rest/handler";
import { parseAccept, parsePrefer, parseQuery, parseRange } from "../dev/supabase/rest/parse";
import { rowsOf } from "../lib/db/client";
import { serviceDb } from "../lib/db/service";
import { addMember, createUser, secrets, tokenFor } from "./support/helpers";
import { seeded as seededRandom } from "./support/random";

/**
 * The local PostgREST (`dev/supabase/rest`) driven by the real @supabase/supabase-js client, mounted
 * behind a minimal gateway of this file's own (bearer verified with the local signing key, none →
 * anon). Every statement runs as the caller, so what the browser may read and write is decided by
 * the migrations' grants, guards and policies, and answered as PostgREST answers it.
 */
let server: Server;
let baseUrl = "";

/** Test gateway: `/rest/v1/*` only; a bearer that is not the publishable key must verify. */
function gateway() {
  const rest = restHandler({ maxRows: 1000 });
  return async (request: Request): Promise<Response> => {
    const { pathname } = new URL(request.url);
    if (!pathname.startsWith("/rest/v1")) {
      return new Response("not found", { status: 404 });
    }
    const token = (request.headers.get("authorization") ?? "").replace(/^Bearer\s+/i, "");
    let caller: Caller = anonCaller;
    if (token !== "" && token !== secrets.supabasePublishableKey) {
      try {
        caller = await verifyAccessToken(secrets.auth, token);
      } catch {
        return Response.json(
          { code: "PGRST301", details: null, hint: null, message: "JWT could not be verified" },
          { status: 401 },
        );
      }
    }
    return rest(request, pathname.slice("/rest/v1".length) || "/", caller);
  };
}

beforeAll(async () => {
  const handle = gateway();
  server = createServer(getRequestListener((request) => handle(request)));
  // Client, server and PGlite share this process's event loop, and postgrest-js' insert() of a large
  // array blocks it for seconds (it gathers the keys quadratically): long enough for the default 5 s
  // keep-alive timeout to drop an idle socket the client then reuses (ECONNRESET).
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

const clientOptions = { auth: { persistSession: false, autoRefreshToken: false } };

async function clientFor(user: string, role?: "service_role"): Promise<SupabaseClient> {
  return createClient(baseUrl, secrets.supabasePublishableKey, {
    ...clientOptions,
    global: { headers: { Authorization: `Bearer ${await tokenFor(user, role ? { role } : {})}` } },
  });
}

const anonClient = () => createClient(baseUrl, secrets.supabasePublishableKey, clientOptions);

/** Raw HTTP to the same endpoint, for what the client does not expose (headers, odd grammar). */
async function raw(path: string, init: RequestInit & { user?: string } = {}) {
  const headers = new Headers(init.headers);
  headers.set("apikey", secrets.supabasePublishableKey);
  if (init.user) {
    headers.set("authorization", `Bearer ${await tokenFor(init.user)}`);
  }
  const response = await fetch(`${baseUrl}/rest/v1${path}`, { ...init, headers });
  const text = await response.text();
  let body: unknown = text;
  try {
    body = text === "" ? null : JSON.parse(text);
  } catch {
    // CSV and other non-JSON bodies stay text.
  }
  return { status: response.status, headers: response.headers, body, text };
}

async function service<T = Record<string, unknown>>(statement: ReturnType<typeof sql>): Promise<T[]> {
  const db = await serviceDb();
  return rowsOf<T>(await db.execute(statement));
}

interface Seeded {
  owner: string;
  member: string;
  stranger: string;
  workspace: string;
  task: string;
  leads: { id: string; name: string; email: string; score: number; status: string; tags: string[] }[];
}

let seeded: Seeded;

async function seed(): Promise<Seeded> {
  const owner = await createUser();
  const member = await createUser();
  const stranger = await createUser();
  const workspace = owner;
  await addMember(workspace, member, "member");
  const [task] = await service<{ id: string }>(sql`
    insert into public.agent_tasks (workspace_id, user_id, agent_name, status, input)
    values (${workspace}, ${owner}, 'leadgen-scraper', 'completed', '{"prompt":"find cafes"}'::jsonb)
    returning id`);
  if (!task) {
    throw new Error("no task");
  }
  const specs = [
    { name: "Alpha Cafe", score: 90, status: "new", tags: ["cafe", "bristol"], company: "Alpha Ltd" },
    { name: "Beta Bakery", score: 70, status: "contacted", tags: ["bakery"], company: "Beta Ltd" },
    { name: "Gamma Grill", score: 50, status: "new", tags: ["grill", "bristol"], company: null },
    { name: "Delta Diner", score: 30, status: "qualified", tags: [], company: "Delta, Inc" },
    { name: "Epsilon Eatery", score: 10, status: "bounced", tags: ["cafe"], company: null },
  ];
  const leads: Seeded["leads"] = [];
  for (const spec of specs) {
    const email = `${spec.name.split(" ")[0]?.toLowerCase()}-${randomUUID().slice(0, 6)}@lead.example`;
    const [row] = await service<{ id: string }>(sql`
      insert into public.leads (workspace_id, user_id, task_id, name, email, score, status, tags, company)
      values (${workspace}, ${owner}, ${task.id}, ${spec.name}, ${email}, ${spec.score}, ${spec.status},
        ${`{${spec.tags.join(",")}}`}::text[], ${spec.company})
      returning id`);
    if (!row) {
      throw new Error("no lead");
    }
    leads.push({
      id: row.id,
      name: spec.name,
      email,
      score: spec.score,
      status: spec.status,
      tags: spec.tags,
    });
  }
  // The stranger's own workspace has a lead too, which nobody else may see.
  await service(sql`
    insert into public.leads (workspace_id, user_id, name, email, score)
    values (${stranger}, ${stranger}, 'Stranger Lead', ${`s-${randomUUID().slice(0, 6)}@lead.example`}, 99)`);
  await service(sql`
    insert into public.campaigns (workspace_id, user_id, name, status) values (${workspace}, ${owner}, 'Spring', 'active')`);
  await service(sql`
    insert into public.alerts (workspace_id, user_id, type, message) values (${workspace}, ${owner}, 'task.done', 'Leads ready')`);
  await service(sql`
    insert into public.product_insights (workspace_id, user_id, title, tags, evidence)
    values (${workspace}, ${owner}, 'Customers want oat milk', '{coffee,milk}', '[{"quote":"oat please"}]'::jsonb)`);
  return { owner, member, stranger, workspace, task: task.id, leads };
}

beforeAll(async () => {
  seeded = await seed();
});

/** The error a failed call answered, with its HTTP status, for assertions that show the body. */
function failure(result: { error: unknown; status: number }) {
  const error = result.error as { code?: string; message?: string } | null;
  return {
    status: result.status,
    code: error?.code,
    message: error?.message,
    text: JSON.stringify(result.error),
  };
}

const names = (rows: { name?: unknown }[] | null) => (rows ?? []).map((row) => row.name);

describe("reads through supabase-js", () => {
  it("lists the workspace's leads, ordered, for a member", async () => {
    const supabase = await clientFor(seeded.member);
    const result = await supabase
      .from("leads")
      .select("id, name, score")
      .order("score", { ascending: false });
    expect(result.status, JSON.stringify(result.error)).toBe(200);
    expect(names(result.data)).toEqual(seeded.leads.map((lead) => lead.name));
  });

  it("reads every table the frontend reads, as a member of the workspace", async () => {
    const owner = await clientFor(seeded.owner);
    for (const [table, expected] of [
      ["agent_tasks", 1],
      ["leads", 5],
      ["campaigns", 1],
      ["alerts", 1],
      ["product_insights", 1],
      ["workspaces", 1],
      ["workspace_members", 2],
    ] as const) {
      const result = await owner.from(table).select("*", { count: "exact" });
      expect(result.status, `${table}: ${JSON.stringify(result.error)}`).toBe(200);
      expect(result.count, table).toBe(expected);
      expect(result.data, table).toHaveLength(expected);
    }
    const insight = await owner.from("product_insights").select("title, tags, evidence").single();
    expect(insight.data).toEqual({
      title: "Customers want oat milk",
      tags: ["coffee", "milk"],
      evidence: [{ quote: "oat please" }],
    });
  });

  it("applies each filter operator as PostgREST does", async () => {
    const supabase = await clientFor(seeded.member);
    const leads = () => supabase.from("leads").select("name").order("score", { ascending: false });
    const cases: [
      string,
      PromiseLike<{ data: { name: unknown }[] | null; error: unknown; status: number }>,
      string[],
    ][] = [
      ["eq", leads().eq("status", "new"), ["Alpha Cafe", "Gamma Grill"]],
      ["neq", leads().neq("status", "new"), ["Beta Bakery", "Delta Diner", "Epsilon Eatery"]],
      ["gt", leads().gt("score", 50), ["Alpha Cafe", "Beta Bakery"]],
      ["gte", leads().gte("score", 50), ["Alpha Cafe", "Beta Bakery", "Gamma Grill"]],
      ["lt", leads().lt("score", 30), ["Epsilon Eatery"]],
      ["lte", leads().lte("score", 30), ["Delta Diner", "Epsilon Eatery"]],
      ["in", leads().in("status", ["contacted", "qualified"]), ["Beta Bakery", "Delta Diner"]],
      ["in with a comma", leads().in("company", ["Delta, Inc", "Beta Ltd"]), ["Beta Bakery", "Delta Diner"]],
      ["in empty", leads().in("status", []), []],
      ["is null", leads().is("company", null), ["Gamma Grill", "Epsilon Eatery"]],
      ["not is null", leads().not("company", "is", null), ["Alpha Cafe", "Beta Bakery", "Delta Diner"]],
      ["like", leads().like("name", "%a Cafe"), ["Alpha Cafe"]],
      ["like with *", leads().like("name", "*Grill"), ["Gamma Grill"]],
      ["ilike", leads().ilike("name", "%BAKERY%"), ["Beta Bakery"]],
      ["likeAnyOf", leads().likeAnyOf("name", ["Alpha%", "Delta%"]), ["Alpha Cafe", "Delta Diner"]],
      ["match", leads().match({ status: "new", score: 50 }), ["Gamma Grill"]],
      ["regex", leads().filter("name", "imatch", "^(alpha|beta)"), ["Alpha Cafe", "Beta Bakery"]],
      ["cs array", leads().contains("tags", ["bristol"]), ["Alpha Cafe", "Gamma Grill"]],
      [
        "cd array",
        leads().containedBy("tags", ["cafe", "bristol"]),
        ["Alpha Cafe", "Delta Diner", "Epsilon Eatery"],
      ],
      ["ov array", leads().overlaps("tags", ["bakery", "grill"]), ["Beta Bakery", "Gamma Grill"]],
      ["not.in", leads().not("status", "in", "(new,bounced)"), ["Beta Bakery", "Delta Diner"]],
      ["not.eq", leads().not("status", "eq", "new"), ["Beta Bakery", "Delta Diner", "Epsilon Eatery"]],
      [
        "isdistinct",
        leads().filter("company", "isdistinct", "Alpha Ltd"),
        ["Beta Bakery", "Gamma Grill", "Delta Diner", "Epsilon Eatery"],
      ],
      ["fts", leads().textSearch("name", "bakery | grill"), ["Beta Bakery", "Gamma Grill"]],
    ];
    for (const [label, query, expected] of cases) {
      const result = await query;
      expect(result.status, `${label}: ${JSON.stringify(result.error)}`).toBe(200);
      expect(names(result.data), label).toEqual(expected);
    }
    const insights = await supabase
      .from("product_insights")
      .select("title")
      // postgrest-js sends a string as it is; an array it would join as a Postgres array literal.
      .contains("evidence", JSON.stringify([{ quote: "oat please" }]));
    expect(insights.data, JSON.stringify(insights.error)).toHaveLength(1);
    const byPath = await supabase
      .from("agent_tasks")
      .select("prompt:input->>prompt")
      .eq("input->>prompt", "find cafes");
    expect(byPath.data, JSON.stringify(byPath.error)).toEqual([{ prompt: "find cafes" }]);
  });

  it("combines or/and, nested, and ordering on several columns", async () => {
    const supabase = await clientFor(seeded.member);
    const result = await supabase
      .from("leads")
      .select("name")
      .or('score.gte.80,and(status.eq.qualified,score.lt.40),name.eq."Beta Bakery"')
      .order("score");
    expect(result.status, JSON.stringify(result.error)).toBe(200);
    expect(names(result.data)).toEqual(["Delta Diner", "Beta Bakery", "Alpha Cafe"]);
    const negated = await supabase
      .from("leads")
      .select("name")
      .not("status", "in", "(new)")
      .or("tags.cs.{cafe},score.eq.30")
      .order("name");
    expect(names(negated.data), JSON.stringify(negated.error)).toEqual(["Delta Diner", "Epsilon Eatery"]);
    const ordered = await supabase
      .from("leads")
      .select("name, company")
      .order("company", { ascending: true, nullsFirst: true })
      .order("name", { ascending: false });
    expect(names(ordered.data), JSON.stringify(ordered.error)).toEqual([
      "Gamma Grill",
      "Epsilon Eatery",
      "Alpha Cafe",
      "Beta Bakery",
      "Delta Diner",
    ]);
  });

  it("pages with range and counts: 206 with Content-Range when partial, HEAD for the count alone", async () => {
    const supabase = await clientFor(seeded.member);
    const page = await supabase
      .from("leads")
      .select("name", { count: "exact" })
      .order("score", { ascending: false })
      .range(1, 2);
    expect(page.status, JSON.stringify(page.error)).toBe(206);
    expect(page.count).toBe(5);
    expect(names(page.data)).toEqual(["Beta Bakery", "Gamma Grill"]);
    const all = await supabase.from("leads").select("name", { count: "planned" });
    expect(all.status).toBe(200);
    expect(all.count).toBe(5);
    const head = await supabase.from("leads").select("*", { count: "exact", head: true }).eq("status", "new");
    expect(head.status, JSON.stringify(head.error)).toBe(200);
    expect(head.count).toBe(2);
    expect(head.data).toBeNull();
    const limited = await supabase.from("leads").select("name").order("name").limit(2);
    expect(names(limited.data)).toEqual(["Alpha Cafe", "Beta Bakery"]);

    const headers = await raw("/leads?select=name&order=name", {
      user: seeded.member,
      headers: { Range: "1-3", "Range-Unit": "items", Prefer: "count=exact" },
    });
    expect(headers.status, headers.text).toBe(206);
    expect(headers.headers.get("content-range")).toBe("1-3/5");
    expect(headers.headers.get("content-type")).toBe("application/json; charset=utf-8");
    const noCount = await raw("/leads?select=name&limit=2", { user: seeded.member });
    expect(noCount.status).toBe(200);
    expect(noCount.headers.get("content-range")).toBe("0-1/*");
    const empty = await raw("/leads?select=name&status=eq.nothing", { user: seeded.member });
    expect(empty.headers.get("content-range")).toBe("*/*");
    const beyond = await raw("/leads?offset=10", { user: seeded.member, headers: { Prefer: "count=exact" } });
    expect(beyond.status, beyond.text).toBe(416);
    expect(beyond.body).toMatchObject({ code: "PGRST103" });
  });

  it("answers single and maybeSingle as PostgREST and postgrest-js do", async () => {
    const supabase = await clientFor(seeded.member);
    const [alpha] = seeded.leads;
    const one = await supabase
      .from("leads")
      .select("id, name")
      .eq("id", alpha?.id ?? "")
      .single();
    expect(one.status, JSON.stringify(one.error)).toBe(200);
    expect(one.data).toEqual({ id: alpha?.id, name: "Alpha Cafe" });
    const none = await supabase.from("leads").select("id").eq("name", "Nobody").single();
    expect(failure(none)).toMatchObject({ status: 406, code: "PGRST116" });
    expect((none.error as { details?: string } | null)?.details).toBe("The result contains 0 rows");
    const many = await supabase.from("leads").select("id").single();
    expect(failure(many)).toMatchObject({ status: 406, code: "PGRST116" });
    const maybeNone = await supabase.from("leads").select("id").eq("name", "Nobody").maybeSingle();
    expect(maybeNone.error).toBeNull();
    expect(maybeNone.data).toBeNull();
    const maybeMany = await supabase.from("leads").select("id").maybeSingle();
    expect(failure(maybeMany)).toMatchObject({ status: 406, code: "PGRST116" });
    const csv = await supabase.from("leads").select("name, company").eq("status", "qualified").csv();
    expect(csv.data).toBe('name,company\nDelta Diner,"Delta, Inc"');
  });
});

describe("embedding", () => {
  it("embeds a many-to-one as an object and a one-to-many as an array", async () => {
    const supabase = await clientFor(seeded.member);
    const leads = await supabase
      .from("leads")
      .select("name, workspace:workspaces(id, name), agent_tasks(agent_name)")
      .eq("status", "qualified");
    expect(leads.status, JSON.stringify(leads.error)).toBe(200);
    const [lead] = leads.data ?? [];
    expect(lead?.workspace).toMatchObject({ id: seeded.workspace });
    expect(lead?.agent_tasks).toEqual({ agent_name: "leadgen-scraper" });

    const workspaces = await supabase
      .from("workspaces")
      .select("id, leads(name), workspace_members(role)")
      .eq("id", seeded.workspace)
      .eq("leads.status", "new")
      .order("name", { referencedTable: "leads", ascending: false });
    expect(workspaces.status, JSON.stringify(workspaces.error)).toBe(200);
    expect(workspaces.data).toHaveLength(1);
    const [workspace] = workspaces.data ?? [];
    expect(workspace?.leads).toEqual([{ name: "Gamma Grill" }, { name: "Alpha Cafe" }]);
    expect(workspace?.workspace_members).toHaveLength(2);

    const hinted = await supabase
      .from("leads")
      .select("name, workspaces!leads_workspace_fkey(name)")
      .limit(1);
    expect(hinted.status, JSON.stringify(hinted.error)).toBe(200);
  });

  it("filters parents with !inner and keeps RLS on the embedded table", async () => {
    const supabase = await clientFor(seeded.member);
    const tasks = await supabase
      .from("agent_tasks")
      .select("id, leads!inner(name)")
      .eq("leads.status", "qualified");
    expect(tasks.status, JSON.stringify(tasks.error)).toBe(200);
    expect(tasks.data).toEqual([{ id: seeded.task, leads: [{ name: "Delta Diner" }] }]);
    const none = await supabase
      .from("agent_tasks")
      .select("id, leads!inner(name)")
      .eq("leads.status", "replied");
    expect(none.data).toEqual([]);
    // Alerts are addressed to the owner: the member's embedding sees none, the owner's sees it.
    const memberView = await supabase.from("workspaces").select("alerts(message)").eq("id", seeded.workspace);
    expect(memberView.data, JSON.stringify(memberView.error)).toEqual([{ alerts: [] }]);
    const ownerView = await (await clientFor(seeded.owner))
      .from("workspaces")
      .select("alerts(message)")
      .eq("id", seeded.workspace);
    expect(ownerView.data).toEqual([{ alerts: [{ message: "Leads ready" }] }]);
  });

  it("answers PGRST200 for no relationship and PGRST201 for an ambiguous one", async () => {
    const supabase = await clientFor(seeded.member);
    const missing = await supabase.from("leads").select("name, scrapes(*)");
    expect(failure(missing)).toMatchObject({ status: 400, code: "PGRST200" });
    const ambiguous = await supabase.from("agent_tasks").select("id, agent_tasks(id)");
    expect(failure(ambiguous)).toMatchObject({ status: 300, code: "PGRST201" });
  });
});

describe("writes through supabase-js", () => {
  it("inserts a queued task with return=representation, as the session's member", async () => {
    const supabase = await clientFor(seeded.member);
    const result = await supabase
      .from("agent_tasks")
      .insert({ workspace_id: seeded.workspace, agent_name: "engineer", input: { prompt: "fix the footer" } })
      .select("id, status, user_id, workspace_id, input")
      .single();
    expect(result.status, JSON.stringify(result.error)).toBe(201);
    expect(result.data).toMatchObject({
      status: "queued",
      user_id: seeded.member,
      workspace_id: seeded.workspace,
      input: { prompt: "fix the footer" },
    });
    const minimal = await supabase.from("agent_tasks").insert([{ agent_name: "engineer", input: { n: 1 } }]);
    expect(minimal.status, JSON.stringify(minimal.error)).toBe(201);
    expect(minimal.data).toBeNull();
  });

  it("refuses through REST what the trust boundary refuses through SQL", async () => {
    const supabase = await clientFor(seeded.member);
    const forged = await supabase
      .from("agent_tasks")
      .insert({ agent_name: "engineer", status: "completed", input: {} })
      .select();
    expect(failure(forged)).toMatchObject({ status: 403, code: "42501" });
    const elsewhere = await supabase
      .from("agent_tasks")
      .insert({ agent_name: "engineer", input: {}, workspace_id: seeded.stranger })
      .select();
    expect(failure(elsewhere)).toMatchObject({ status: 403, code: "42501" });
    const [alpha, , , , bounced] = seeded.leads;
    const email = await supabase
      .from("leads")
      .update({ email: "phish@evil.example" })
      .eq("id", alpha?.id ?? "");
    expect(failure(email)).toMatchObject({ status: 403, code: "42501" });
    const status = await supabase
      .from("leads")
      .update({ status: "bounced" })
      .eq("id", alpha?.id ?? "");
    expect(failure(status)).toMatchObject({ status: 403, code: "42501" });
    expect(status.error?.message).toContain("set by the service");
    const revive = await supabase
      .from("leads")
      .update({ status: "new" })
      .eq("id", bounced?.id ?? "");
    expect(failure(revive)).toMatchObject({ status: 403, code: "42501" });
    const remove = await supabase
      .from("leads")
      .delete()
      .eq("id", alpha?.id ?? "");
    expect(failure(remove)).toMatchObject({ status: 403, code: "42501" });
    const [row] = await service<{ email: string; status: string }>(
      sql`select email, status from public.leads where id = ${alpha?.id ?? ""}`,
    );
    expect(row).toEqual({ email: alpha?.email, status: "new" });
    const merge = await supabase
      .from("agent_tasks")
      .upsert({ agent_name: "engineer", input: {}, external_id: "x" });
    expect(failure(merge)).toMatchObject({ status: 403, code: "42501" });
  });

  it("updates what a person may set, returning the rows, refuses PATCH/DELETE without a filter as pg-safeupdate does, and a filtered PATCH stays in RLS", async () => {
    const supabase = await clientFor(seeded.member);
    const [, beta] = seeded.leads;
    const result = await supabase
      .from("leads")
      .update({ notes: "called twice", tags: ["bakery", "warm"], status: "engaged" })
      .eq("id", beta?.id ?? "")
      .select("id, notes, tags, status, history");
    expect(result.status, JSON.stringify(result.error)).toBe(200);
    expect(result.data).toHaveLength(1);
    expect(result.data?.[0]).toMatchObject({
      notes: "called twice",
      tags: ["bakery", "warm"],
      status: "engaged",
    });
    expect(result.data?.[0]?.history).toHaveLength(1);
    const noRepresentation = await supabase
      .from("leads")
      .update({ notes: "again" })
      .eq("id", beta?.id ?? "");
    expect(noRepresentation.status, JSON.stringify(noRepresentation.error)).toBe(204);

    await service(sql`
      insert into public.alerts (workspace_id, user_id, type, message) values (${seeded.stranger}, ${seeded.stranger}, 'x.y', 'Theirs')`);
    const owner = await clientFor(seeded.owner);
    // Supabase runs pg-safeupdate for API requests: no filter at all is refused before anything runs.
    const unfiltered = await owner.from("alerts").update({ read: true }).select("message, read");
    expect(failure(unfiltered)).toMatchObject({
      status: 400,
      code: "21000",
      message: "UPDATE requires a WHERE clause",
    });
    const unfilteredDelete = await owner.from("alerts").delete();
    expect(failure(unfilteredDelete)).toMatchObject({
      status: 400,
      code: "21000",
      message: "DELETE requires a WHERE clause",
    });
    // A filter on an embedded resource narrows what is returned, not the statement's WHERE.
    const embeddedOnly = await owner
      .from("alerts")
      .update({ read: true })
      .eq("workspaces.id", seeded.workspace)
      .select("message, workspaces!inner(id)");
    expect(failure(embeddedOnly)).toMatchObject({ status: 400, code: "21000" });
    const [untouched] = await service<{ n: number }>(
      sql`select count(*)::int as n from public.alerts where read and message in ('Leads ready', 'Theirs')`,
    );
    expect(untouched?.n).toBe(0);
    // A filter that matches every row is a WHERE; row-level security keeps it to the owner's.
    const filtered = await owner
      .from("alerts")
      .update({ read: true })
      .eq("read", false)
      .select("message, read, read_at");
    expect(filtered.status, JSON.stringify(filtered.error)).toBe(200);
    expect(filtered.data).toHaveLength(1);
    expect(filtered.data?.[0]).toMatchObject({ message: "Leads ready", read: true });
    expect(filtered.data?.[0]?.read_at).not.toBeNull();
    const [theirs] = await service<{ read: boolean }>(
      sql`select read from public.alerts where message = 'Theirs'`,
    );
    expect(theirs?.read).toBe(false);
  });

  it("inserts a bulk body as one parameter: 14,000 rows × 5 columns in one request", async () => {
    // One parameter per cell would need 70,000 bind parameters, past the protocol's 65,535.
    const user = await createUser();
    const supabase = await clientFor(user);
    const count = 14_000;
    const rows = Array.from({ length: count }, (_, i) => ({
      workspace_id: user,
      user_id: user,
      agent_name: "engineer",
      input: { i },
      external_id: `bulk-${i}`,
    }));
    const result = await supabase.from("agent_tasks").insert(rows, { count: "exact" });
    expect(result.status, JSON.stringify(result.error)).toBe(201);
    expect(result.count).toBe(count);
    const [stored] = await service<{ n: number; last: string | null }>(sql`
      select count(*)::int as n, max(input ->> 'i') filter (where external_id = ${`bulk-${count - 1}`}) as last
      from public.agent_tasks where user_id = ${user}`);
    expect(stored).toEqual({ n: count, last: String(count - 1) });
  });

  it("upserts: ignore-duplicates for the browser, merge-duplicates for the service", async () => {
    const supabase = await clientFor(seeded.member);
    const externalId = `ext-${randomUUID()}`;
    const first = await supabase
      .from("agent_tasks")
      .upsert(
        { agent_name: "engineer", input: { n: 1 }, external_id: externalId, user_id: seeded.member },
        { onConflict: "user_id,external_id", ignoreDuplicates: true },
      )
      .select("external_id");
    expect(first.status, JSON.stringify(first.error)).toBe(201);
    expect(first.data).toEqual([{ external_id: externalId }]);
    const again = await supabase
      .from("agent_tasks")
      .upsert(
        { agent_name: "engineer", input: { n: 2 }, external_id: externalId, user_id: seeded.member },
        { onConflict: "user_id,external_id", ignoreDuplicates: true },
      )
      .select("external_id");
    expect(again.status, JSON.stringify(again.error)).toBe(201);
    expect(again.data).toEqual([]);

    const serviceClient = await clientFor(seeded.owner, "service_role");
    const rows = [
      { workspace_id: seeded.workspace, user_id: seeded.owner, name: "Merged A", fingerprint: "fp-a" },
      { workspace_id: seeded.workspace, user_id: seeded.owner, name: "Merged B", fingerprint: "fp-b" },
    ];
    const inserted = await serviceClient
      .from("campaigns")
      .upsert(rows, { onConflict: "workspace_id,fingerprint" })
      .select("name");
    expect(inserted.status, JSON.stringify(inserted.error)).toBe(201);
    const merged = await serviceClient
      .from("campaigns")
      .upsert([{ ...rows[0], name: "Merged A2" }], { onConflict: "workspace_id,fingerprint" })
      .select("name, fingerprint");
    expect(merged.data, JSON.stringify(merged.error)).toEqual([{ name: "Merged A2", fingerprint: "fp-a" }]);
    const count = await serviceClient
      .from("campaigns")
      .select("*", { count: "exact", head: true })
      .like("fingerprint", "fp-*");
    expect(count.count).toBe(2);
    const defaults = await serviceClient
      .from("campaigns")
      .insert(
        [
          { workspace_id: seeded.workspace, user_id: seeded.owner, name: "Defaults", channel: "sms" },
          { workspace_id: seeded.workspace, user_id: seeded.owner, name: "Defaults 2" },
        ],
        { defaultToNull: false },
      )
      .select("name, channel");
    expect(defaults.data, JSON.stringify(defaults.error)).toEqual([
      { name: "Defaults", channel: "sms" },
      { name: "Defaults 2", channel: "email" },
    ]);
    // `columns=` naming a column no row gives: its default with missing=default, null without.
    const token = await tokenFor(seeded.owner, { role: "service_role" });
    const named = async (prefer: string, name: string) =>
      fetch(`${baseUrl}/rest/v1/campaigns?columns=workspace_id,user_id,name,channel&select=name,channel`, {
        method: "POST",
        headers: {
          apikey: secrets.supabasePublishableKey,
          authorization: `Bearer ${token}`,
          "content-type": "application/json",
          prefer,
        },
        body: JSON.stringify([{ workspace_id: seeded.workspace, user_id: seeded.owner, name }]),
      });
    const absent = await named("return=representation,missing=default", "Defaults 3");
    expect(absent.status).toBe(201);
    expect(await absent.json()).toEqual([{ name: "Defaults 3", channel: "email" }]);
    const nulled = await named("return=representation", "Defaults 4");
    expect(nulled.status).toBe(400);
    expect(await nulled.json()).toMatchObject({ code: "23502" });
  });

  it("answers headers-only with a Location, strips nulls when asked, and inserts defaults for {}", async () => {
    const serviceClient = await clientFor(seeded.owner, "service_role");
    const location = await raw("/campaigns", {
      user: seeded.owner,
      method: "POST",
      headers: { "content-type": "application/json", prefer: "return=headers-only" },
      body: JSON.stringify({ workspace_id: seeded.workspace, user_id: seeded.owner, name: "Located" }),
    });
    // The owner's browser may not insert campaigns; the service may, and gets the row's address.
    expect(location.status, location.text).toBe(403);
    const token = await tokenFor(seeded.owner, { role: "service_role" });
    const located = await fetch(`${baseUrl}/rest/v1/campaigns`, {
      method: "POST",
      headers: {
        apikey: secrets.supabasePublishableKey,
        authorization: `Bearer ${token}`,
        "content-type": "application/json",
        prefer: "return=headers-only",
      },
      body: JSON.stringify({ workspace_id: seeded.workspace, user_id: seeded.owner, name: "Located" }),
    });
    expect(located.status).toBe(201);
    expect(located.headers.get("location")).toMatch(/^\/campaigns\?id=eq\.[0-9a-f-]{36}$/);
    expect(located.headers.get("preference-applied")).toBe("return=headers-only");
    const stripped = await serviceClient
      .from("campaigns")
      .select("name, description")
      .eq("name", "Located")
      .stripNulls();
    expect(stripped.data, JSON.stringify(stripped.error)).toEqual([{ name: "Located" }]);
    const empty = await serviceClient.from("campaigns").insert({}).select();
    expect(failure(empty)).toMatchObject({ status: 400, code: "23502" });
  });

  it("deletes the author's drafts, and nothing of another's", async () => {
    const [draft] = await service<{ id: string }>(sql`
      insert into public.email_events (workspace_id, user_id, event_type, to_email, subject, body_text)
      values (${seeded.workspace}, ${seeded.member}, 'drafted', 'x@lead.example', 'Hi', 'Body') returning id`);
    const stranger = await clientFor(seeded.stranger);
    const theirs = await stranger
      .from("email_events")
      .delete()
      .eq("id", draft?.id ?? "")
      .select();
    expect(theirs.status, JSON.stringify(theirs.error)).toBe(200);
    expect(theirs.data).toEqual([]);
    const supabase = await clientFor(seeded.member);
    const mine = await supabase
      .from("email_events")
      .delete({ count: "exact" })
      .eq("id", draft?.id ?? "")
      .select("id");
    expect(mine.status, JSON.stringify(mine.error)).toBe(200);
    expect(mine.data).toEqual([{ id: draft?.id }]);
    expect(mine.count).toBe(1);
    const gone = await service(sql`select 1 from public.email_events where id = ${draft?.id ?? ""}`);
    expect(gone).toEqual([]);
  });
});

describe("tenancy and roles", () => {
  it("shows a stranger nothing of another workspace", async () => {
    const stranger = await clientFor(seeded.stranger);
    const leads = await stranger.from("leads").select("name, workspace_id");
    expect(leads.data, JSON.stringify(leads.error)).toEqual([
      { name: "Stranger Lead", workspace_id: seeded.stranger },
    ]);
    const theirs = await stranger.from("leads").select("*").eq("workspace_id", seeded.workspace);
    expect(theirs.data).toEqual([]);
    const workspaces = await stranger.from("workspaces").select("id, workspace_members(user_id)");
    expect(workspaces.data).toEqual([
      { id: seeded.stranger, workspace_members: [{ user_id: seeded.stranger }] },
    ]);
    const tasks = await stranger.from("agent_tasks").select("id", { count: "exact" });
    expect(tasks.count).toBe(0);
  });

  it("answers anon with 401 where PostgREST would (no grants)", async () => {
    const anon = anonClient();
    for (const table of ["leads", "agent_tasks", "workspaces"]) {
      const result = await anon.from(table).select("*");
      expect(failure(result), table).toMatchObject({ status: 401, code: "42501" });
    }
    const insert = await anon.from("agent_tasks").insert({ agent_name: "engineer", input: {} });
    expect(failure(insert)).toMatchObject({ status: 401, code: "42501" });
    const raw401 = await raw("/leads");
    expect(raw401.headers.get("www-authenticate")).toBe("Bearer");
  });

  it("column grants: invitations without the token hash, settings for admins only", async () => {
    const member = await clientFor(seeded.member);
    // select=* names token_hash, which no browser may read: refused as a whole, as PostgREST does.
    const star = await member.from("workspace_invitations").select("*");
    expect(failure(star)).toMatchObject({ status: 403, code: "42501" });
    const named = await member.from("workspace_invitations").select("id, email, role");
    expect(named.status, JSON.stringify(named.error)).toBe(200);
    // A plain member's settings change matches no row its policy lets it update: 200 with nothing.
    const rename = await member
      .from("workspaces")
      .update({ name: "Hijacked" })
      .eq("id", seeded.workspace)
      .select("name");
    expect(rename.status, JSON.stringify(rename.error)).toBe(200);
    expect(rename.data).toEqual([]);
    const owner = await clientFor(seeded.owner);
    const renamed = await owner
      .from("workspaces")
      .update({ name: "Cafe Co" })
      .eq("id", seeded.workspace)
      .select("name")
      .single();
    expect(renamed.data, JSON.stringify(renamed.error)).toEqual({ name: "Cafe Co" });
    const budget = await owner
      .from("workspaces")
      .update({ token_budget_daily: 10_000_000 })
      .eq("id", seeded.workspace);
    expect(failure(budget)).toMatchObject({ status: 403, code: "42501" });
  });

  it("answers 403 for a service-only table", async () => {
    const supabase = await clientFor(seeded.member);
    const result = await supabase.from("scrapes").select("*");
    expect(failure(result)).toMatchObject({ status: 403, code: "42501" });
  });
});

describe("errors in PostgREST's shape", () => {
  it("answers each refusal with its PGRST code and status", async () => {
    const supabase = await clientFor(seeded.member);
    expect(failure(await supabase.from("nope").select())).toMatchObject({ status: 404, code: "PGRST205" });
    const suggestion = await supabase.from("lead").select();
    expect((suggestion.error as { hint?: string } | null)?.hint).toBe(
      "Perhaps you meant the table 'public.leads'",
    );
    expect(failure(await supabase.from("leads").select("nope"))).toMatchObject({
      status: 400,
      code: "42703",
    });
    expect(failure(await supabase.from("leads").select("name").eq("nope", 1))).toMatchObject({
      status: 400,
      code: "42703",
    });
    expect(failure(await supabase.from("leads").select().filter("name", "zz", "x"))).toMatchObject({
      status: 400,
      code: "PGRST100",
    });
    expect(failure(await supabase.from("leads").select().eq("id", "not-a-uuid"))).toMatchObject({
      status: 400,
      code: "22P02",
    });
    expect(failure(await supabase.schema("private").from("settings").select())).toMatchObject({
      status: 406,
      code: "PGRST106",
    });
    expect(
      failure(await supabase.from("agent_tasks").insert({ agent_name: "engineer", nope: 1 })),
    ).toMatchObject({
      status: 400,
      code: "PGRST204",
    });
    expect(
      failure(await supabase.from("agent_tasks").insert({ agent_name: "nobody", input: {} })),
    ).toMatchObject({
      status: 400,
      code: "23514",
    });
    expect(failure(await supabase.rpc("no_such_function", { a: 1 }))).toMatchObject({
      status: 404,
      code: "PGRST202",
    });
    expect(failure(await supabase.from("leads").select("name::regclass"))).toMatchObject({
      status: 400,
      code: "PGRST100",
    });

    const badJson = await raw("/agent_tasks", {
      user: seeded.member,
      method: "POST",
      headers: { "content-type": "application/json" },
      body: "{not json",
    });
    expect(badJson.status, badJson.text).toBe(400);
    expect(badJson.body).toMatchObject({ code: "PGRST102", message: "Empty or invalid json" });
    const mismatched = await raw("/agent_tasks", {
      user: seeded.member,
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify([{ agent_name: "engineer" }, { input: {} }]),
    });
    expect(mismatched.body).toMatchObject({ code: "PGRST102" });
    const plain = await raw("/agent_tasks", { user: seeded.member, method: "POST", body: "{}" });
    expect(plain.status, plain.text).toBe(415);
    expect(plain.body).toMatchObject({ code: "PGRST107" });
    const accept = await raw("/leads", { user: seeded.member, headers: { accept: "application/xml" } });
    expect(accept.status, accept.text).toBe(406);
    expect(accept.body).toMatchObject({ code: "PGRST107" });
    const root = await raw("/", { user: seeded.member });
    expect(root.status).toBe(404);
    expect(root.headers.get("content-type")).toBe("application/json; charset=utf-8");
    const notEmbedded = await raw("/leads?workspaces.name=eq.x", { user: seeded.member });
    expect(notEmbedded.body).toMatchObject({ code: "PGRST108" });
    const put = await raw("/leads", { user: seeded.member, method: "PUT", body: "{}" });
    expect(put.status).toBe(405);
  });

  it("never answers bad grammar with a 500 (randomized query strings)", async () => {
    const random = seededRandom(20261203);
    const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)] as T;
    const fragments = [
      "select=",
      "select=*",
      "select=name,workspaces(*)",
      "select=a:name::text",
      "select=input->>prompt",
      "select=leads(",
      "select=))",
      "select=*,agent_tasks!inner(id)",
      "order=name.desc.nullslast",
      "order=.asc",
      "order=name.sideways",
      "limit=-1",
      "limit=abc",
      "offset=99999999999999999999",
      "or=(name.eq.a,score.gt.1)",
      "or=(name.eq.a",
      "and=(or(status.eq.new,not.score.lt.3),name.like.*a*)",
      "not.or=(score.gt.5)",
      "name=eq.",
      'name=in.(a,"b,c")',
      "name=in.(",
      "score=gt.notanumber",
      "id=eq.\u0000",
      "tags=cs.{a,b",
      'tags=cs.{"x"}',
      "created_at=lt.yesterday",
      "name=is.maybe",
      "score=like(any).{1*,2*}",
      "name=fts(english).cafe",
      "name=wfts(nonexistent_config).cafe",
      "metadata->a->>b=eq.1",
      "metadata->0=eq.1",
      "workspaces=not.is.null",
      "leads.name=eq.x",
      "%ZZ=eq.1",
      "=eq.1",
      "name",
      "columns=name",
      "on_conflict=nope",
    ];
    const alphabet = "abc.,()!:*{}\"'\\-><=&% \u00e9\u0000";
    for (let i = 0; i < 250; i++) {
      const parts: string[] = [];
      const count = 1 + Math.floor(random() * 2);
      for (let j = 0; j < count; j++) {
        let fragment = pick(fragments);
        if (random() < 0.3) {
          const at = Math.floor(random() * (fragment.length + 1));
          let noise = "";
          for (let k = 0; k < 1 + Math.floor(random() * 4); k++) {
            noise += pick(alphabet.split(""));
          }
          fragment = fragment.slice(0, at) + noise + fragment.slice(at);
        }
        const eq = fragment.indexOf("=");
        parts.push(
          eq < 0
            ? encodeURIComponent(fragment)
            : `${encodeURIComponent(fragment.slice(0, eq))}=${encodeURIComponent(fragment.slice(eq + 1))}`,
        );
      }
      const table = pick(["leads", "agent_tasks", "workspaces", "nope"]);
      const method = pick(["GET", "GET", "HEAD", "PATCH", "DELETE", "POST"]);
      const query = parts.join("&");
      const response = await raw(`/${table}?${query}`, {
        user: seeded.stranger,
        method,
        headers: {
          ...(random() < 0.2 ? { accept: "application/vnd.pgrst.object+json" } : {}),
          ...(random() < 0.2 ? { prefer: "count=exact, return=representation" } : {}),
          ...(random() < 0.1 ? { range: pick(["0-1", "5-2", "x", "3-"]) } : {}),
        },
        body:
          method === "POST" || method === "PATCH"
            ? pick(['{"notes":"x"}', "[]", "{}", "[1]", "nope"])
            : undefined,
      });
      expect(response.status, `${method} /${table}?${query} → ${response.text}`).toBeLessThan(500);
      if (response.status >= 400 && method !== "HEAD") {
        expect(typeof (response.body as { code?: unknown }).code, `${method} /${table}?${query}`).toBe(
          "string",
        );
      }
    }
    // The fuzz ran as the stranger: nothing of the shared workspace changed.
    const [lead] = await service<{ count: string }>(
      sql`select count(*)::text as count from public.leads where workspace_id = ${seeded.workspace}`,
    );
    expect(lead?.count).toBe("5");
  });
});

describe("the grammar alone", () => {
  it("parses or refuses with a 4xx PgrstError whatever the input (randomized, no database)", () => {
    const random = seededRandom(7);
    const alphabet = [
      ...'abcnot.,()!:*{}[]"\\->><=&%_$ 0129\u00e9\u0000',
      "eq.",
      "in.(",
      "or=(",
      "and(",
      "not.",
      "->>",
      "::",
    ];
    const keys = [
      "select",
      "order",
      "limit",
      "offset",
      "or",
      "and",
      "not.or",
      "name",
      "rel.name",
      "rel.order",
      "columns",
      "on_conflict",
      "a->b",
      "",
    ];
    for (let i = 0; i < 3000; i++) {
      let value = "";
      const length = Math.floor(random() * 24);
      for (let k = 0; k < length; k++) {
        value += alphabet[Math.floor(random() * alphabet.length)];
      }
      const key = keys[Math.floor(random() * keys.length)] ?? "";
      const attempt = (fn: () => unknown) => {
        try {
          fn();
        } catch (error) {
          expect(error, `${key}=${value}`).toBeInstanceOf(PgrstError);
          expect((error as PgrstError).status, `${key}=${value}`).toBeLessThan(500);
          expect((error as PgrstError).status).toBeGreaterThanOrEqual(400);
        }
      };
      attempt(() => parseQuery(new URLSearchParams([[key, value]])));
      attempt(() => parseAccept(value));
      attempt(() => parsePrefer(value));
      attempt(() => parseRange(value));
    }
  });

  it("reads the grammar postgrest-js emits", () => {
    const query = parseQuery(
      new URLSearchParams([
        [
          "select",
          'id,alias:name::text,input->a->>b,"quoted col",w:workspaces!leads_workspace_fkey!inner(id,name)',
        ],
        ["or", '(a.eq.1,and(b.in.(1,"2,3"),c.not.is.null),d.cs.{x,y})'],
        ["order", "name.desc.nullslast,id"],
        ["workspaces.order", "name"],
        ["workspaces.limit", "2"],
        ["name", "like(any).{a*,b*}"],
      ]),
    );
    expect(query.select).toHaveLength(5);
    expect(query.select[4]).toMatchObject({
      kind: "embed",
      target: "workspaces",
      alias: "w",
      hint: "leads_workspace_fkey",
      inner: true,
    });
    const top = query.levels.get("");
    expect(top?.order).toEqual([
      { field: { name: "name", json: [] }, desc: true, nulls: "last" },
      { field: { name: "id", json: [] }, desc: false, nulls: undefined },
    ]);
    expect(top?.conditions[0]).toMatchObject({
      kind: "logic",
      op: "or",
      children: [{ value: "1" }, { op: "and" }, { op: "cs", value: "{x,y}" }],
    });
    expect(top?.conditions[1]).toMatchObject({ op: "like", quantifier: "any", list: ["a*", "b*"] });
    expect(query.levels.get("workspaces")).toMatchObject({ limit: 2 });
    expect(parsePrefer("count=exact, return=representation, missing=default")).toMatchObject({
      count: "exact",
      return: "representation",
      missing: "default",
    });
    expect(parseAccept("application/vnd.pgrst.object+json;nulls=stripped")).toEqual({
      media: "object",
      stripNulls: true,
    });
  });
});
