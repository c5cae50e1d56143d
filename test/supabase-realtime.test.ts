import { randomUUID } from "node:crypto";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import {
  createClient,
  type RealtimeChannel,
  type RealtimePostgresChangesPayload,
  type SupabaseClient,
} from "@supabase/supabase-js";
import { sql } from "drizzle-orm";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { WebSocket } from "ws";
import { installChangeCapture } from "../dev/supabase/realtime/changes";
import { type RealtimeServer, startRealtime } from "../dev/supabase/realtime/server";
import { getEngine, rowsOf } from "../lib/db/client";
import { serviceDb } from "../lib/db/service";
import { createUser, secrets, tokenFor } from "./support/helpers";

/**
 * The local Supabase Realtime driven by the real supabase-js client: joins, postgres_changes with
 * filters and row-level security as each subscriber, token refresh, leave, errors, and hostile frames.
 * Nothing waits on a fixed delay: every "nothing arrived" is judged against a later event that did.
 */

/**
 * How long an awaited event may take before the test says what did arrive: a safety net, far above
 * what a loaded machine needs (the event is the signal). supabase-js's own push timeout (10 s by
 * default, after which a join reports TIMED_OUT) is raised to match in `newClient`.
 */
const WAIT_MS = 60_000;

/** Collects what a callback receives and waits for an item; a timeout says what did arrive. */
class Inbox<T> {
  readonly items: T[] = [];
  private waiters: Array<{ test: (item: T) => boolean; resolve: (item: T) => void }> = [];

  push = (item: T): void => {
    this.items.push(item);
    for (const waiter of [...this.waiters]) {
      if (waiter.test(item)) {
        this.waiters = this.waiters.filter((w) => w !== waiter);
        waiter.resolve(item);
      }
    }
  };

  waitFor(test: (item: T) => boolean, what: string): Promise<T> {
    const found = this.items.find(test);
    if (found !== undefined) {
      return Promise.resolve(found);
    }
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w.resolve !== done);
        reject(new Error(`timed out waiting for ${what}; arrived: ${JSON.stringify(this.items, null, 1)}`));
      }, WAIT_MS);
      const done = (item: T) => {
        clearTimeout(timer);
        resolve(item);
      };
      this.waiters.push({ test, resolve: done });
    });
  }
}

type Change = RealtimePostgresChangesPayload<Record<string, unknown>>;
interface Status {
  status: string;
  error?: string;
}

let http: Server;
let realtime: RealtimeServer;
let baseUrl: string;
const clients: SupabaseClient[] = [];

beforeAll(async () => {
  const engine = await getEngine();
  await installChangeCapture(engine);
  realtime = await startRealtime({
    engine,
    keys: secrets.auth,
    publishableKey: secrets.supabasePublishableKey,
  });
  http = createServer((_request, response) => {
    response.statusCode = 404;
    response.end();
  });
  http.on("upgrade", (request, socket, head) => realtime.handleUpgrade(request, socket, head));
  await new Promise<void>((resolve) => http.listen(0, "127.0.0.1", resolve));
  baseUrl = `http://127.0.0.1:${(http.address() as AddressInfo).port}`;
});

afterEach(async () => {
  for (const client of clients.splice(0)) {
    await client.removeAllChannels();
  }
});

afterAll(async () => {
  await realtime?.close();
  await new Promise<void>((resolve) => (http ? http.close(() => resolve()) : resolve()));
});

/**
 * A supabase-js client as a browser app makes one, its Realtime token set with `realtime.setAuth`
 * (none: the publishable key alone, i.e. anon). setAuth is awaited before subscribing: the join
 * payload is built when `subscribe()` is called.
 */
async function newClient(token: string | undefined, vsn?: "1.0.0" | "2.0.0"): Promise<SupabaseClient> {
  const client = createClient(baseUrl, secrets.supabasePublishableKey, {
    auth: { persistSession: false, autoRefreshToken: false },
    realtime: { timeout: WAIT_MS, ...(vsn ? { vsn } : {}) },
  });
  clients.push(client);
  if (token) {
    await client.realtime.setAuth(token);
  }
  return client;
}

interface Binding {
  event: "*" | "INSERT" | "UPDATE" | "DELETE";
  table?: string;
  filter?: string;
}

/** Subscribes a channel with one inbox per binding and waits for SUBSCRIBED (or fails). */
async function subscribe(
  client: SupabaseClient,
  bindings: Binding[],
  name = `room-${randomUUID().slice(0, 8)}`,
) {
  const channel: RealtimeChannel = client.channel(name);
  const inboxes = bindings.map(() => new Inbox<Change>());
  const all = new Inbox<Change>();
  bindings.forEach((binding, index) => {
    channel.on(
      "postgres_changes",
      {
        event: binding.event,
        schema: "public",
        table: binding.table ?? "agent_tasks",
        filter: binding.filter,
      },
      (payload: Change) => {
        inboxes[index]?.push(payload);
        all.push(payload);
      },
    );
  });
  const system = new Inbox<Record<string, unknown>>();
  channel.on("system", {}, (payload: Record<string, unknown>) => system.push(payload));
  const statuses = new Inbox<Status>();
  channel.subscribe((status, error) => statuses.push({ status, error: error?.message }));
  return { channel, inboxes, all, system, statuses };
}

async function subscribed(client: SupabaseClient, bindings: Binding[]) {
  const subscription = await subscribe(client, bindings);
  const first = await subscription.statuses.waitFor(() => true, "a subscribe status");
  expect(first, JSON.stringify(subscription.statuses.items)).toEqual({
    status: "SUBSCRIBED",
    error: undefined,
  });
  return subscription;
}

/** A heartbeat round trip: the server handles a socket's frames in order, so earlier ones are done. */
async function roundTrip(client: SupabaseClient): Promise<void> {
  const replies = new Inbox<string>();
  client.realtime.onHeartbeat((status) => replies.push(status));
  await client.realtime.sendHeartbeat();
  await replies.waitFor((status) => status === "ok", "a heartbeat reply");
}

async function insertTask(workspace: string, fields: { agent?: string; promptTokens?: number } = {}) {
  const db = await serviceDb();
  const rows = rowsOf<{ id: string }>(
    await db.execute(sql`
      insert into public.agent_tasks (workspace_id, user_id, agent_name, prompt_tokens)
      values (${workspace}, ${workspace}, ${fields.agent ?? "product-manager"}, ${fields.promptTokens ?? 0})
      returning id
    `),
  );
  const id = rows[0]?.id;
  if (!id) {
    throw new Error("insert returned no id");
  }
  return id;
}

const isRow = (id: string) => (change: Change) =>
  (change.new as { id?: string }).id === id || (change.old as { id?: string }).id === id;

describe("local Supabase Realtime", () => {
  it("refuses a socket without the publishable key, as the gateway does (HTTP 401)", async () => {
    const refusal = (query: string) =>
      new Promise<{ status: number; body: string }>((resolve, reject) => {
        const socket = new WebSocket(`${baseUrl.replace("http", "ws")}/realtime/v1/websocket${query}`);
        socket.on("unexpected-response", (_request, response) => {
          let body = "";
          response.on("data", (chunk: Buffer) => {
            body += chunk.toString();
          });
          response.on("end", () => resolve({ status: response.statusCode ?? 0, body }));
        });
        socket.on("open", () => reject(new Error("the socket opened")));
        socket.on("error", () => {});
      });
    const missing = await refusal("?vsn=2.0.0");
    expect(missing.status).toBe(401);
    expect(JSON.parse(missing.body)).toEqual({ error: "API key is missing" });
    const wrong = await refusal("?apikey=sb_publishable_wrong&vsn=2.0.0");
    expect(wrong.status).toBe(401);
    expect(JSON.parse(wrong.body).error).toMatch(/API key/);
  });

  it("delivers INSERT, UPDATE and DELETE of the member's workspace with record and old, in commit order", async () => {
    const owner = await createUser();
    const client = await newClient(await tokenFor(owner));
    const { inboxes, system } = await subscribed(client, [
      { event: "*", filter: `workspace_id=eq.${owner}` },
      // Hosted Realtime judges a DELETE's filter on the old row's replica identity, only the primary
      // key by default, so deletes are watched without a filter.
      { event: "DELETE" },
    ]);
    const [changes, deletes] = inboxes;
    if (!changes || !deletes) {
      throw new Error("inboxes missing");
    }
    await system.waitFor((message) => message.message === "Subscribed to PostgreSQL", "the system message");

    const id = await insertTask(owner, { promptTokens: 7 });
    const inserted = await changes.waitFor(isRow(id), "the INSERT");
    expect(inserted).toMatchObject({ eventType: "INSERT", schema: "public", table: "agent_tasks", old: {} });
    expect(inserted.new).toMatchObject({ id, workspace_id: owner, status: "queued", prompt_tokens: 7 });
    expect(typeof inserted.commit_timestamp).toBe("string");

    const db = await serviceDb();
    await db.execute(sql`update public.agent_tasks set status = 'processing' where id = ${id}`);
    const updated = await changes.waitFor((c) => c.eventType === "UPDATE" && isRow(id)(c), "the UPDATE");
    expect(updated.new).toMatchObject({ id, status: "processing" });
    // Default replica identity: the old row is its primary key.
    expect(updated.old).toEqual({ id });

    await db.execute(sql`delete from public.agent_tasks where id = ${id}`);
    const deleted = await deletes.waitFor((c) => c.eventType === "DELETE" && isRow(id)(c), "the DELETE");
    // Row-level security is on: a DELETE carries the primary key only.
    expect(deleted.old).toEqual({ id });
    expect(deleted.new).toEqual({});

    // Several commits in a row arrive in the order they committed.
    const ids: string[] = [];
    for (let index = 0; index < 5; index++) {
      ids.push(await insertTask(owner));
    }
    const last = ids.at(-1) ?? "";
    await changes.waitFor(isRow(last), "the last of five INSERTs");
    const order = changes.items
      .filter((c) => c.eventType === "INSERT" && ids.includes((c.new as { id: string }).id))
      .map((c) => (c.new as { id: string }).id);
    expect(order).toEqual(ids);
  });

  it("respects filters: eq, neq, lt/lte/gt/gte and in", async () => {
    const owner = await createUser();
    const client = await newClient(await tokenFor(owner));
    const { inboxes } = await subscribed(client, [
      { event: "INSERT", filter: `workspace_id=eq.${owner}` },
      { event: "INSERT", filter: "prompt_tokens=gt.100" },
      { event: "INSERT", filter: "agent_name=in.(engineer,finance-manager)" },
      { event: "INSERT", filter: "prompt_tokens=lte.50" },
      { event: "INSERT", filter: "agent_name=neq.engineer" },
      { event: "INSERT", filter: `prompt_tokens=gte.150,workspace_id=eq.${owner}` },
      { event: "INSERT", filter: "prompt_tokens=lt.10" },
    ]);
    const r1 = await insertTask(owner, { promptTokens: 50, agent: "product-manager" });
    const r2 = await insertTask(owner, { promptTokens: 150, agent: "product-manager" });
    const r3 = await insertTask(owner, { promptTokens: 5, agent: "engineer" });
    await inboxes[0]?.waitFor(isRow(r3), "the last INSERT");
    const ids = (index: number) => inboxes[index]?.items.map((c) => (c.new as { id: string }).id);
    expect(ids(0)).toEqual([r1, r2, r3]);
    expect(ids(1)).toEqual([r2]);
    expect(ids(2)).toEqual([r3]);
    expect(ids(3)).toEqual([r1, r3]);
    expect(ids(4)).toEqual([r1, r2]);
    expect(ids(5)).toEqual([r2]);
    expect(ids(6)).toEqual([r3]);
  });

  it("gives a stranger nothing of another workspace, with or without a filter", async () => {
    const owner = await createUser();
    const stranger = await createUser();
    const client = await newClient(await tokenFor(stranger));
    const { all, inboxes } = await subscribed(client, [
      { event: "*" },
      { event: "*", filter: `workspace_id=eq.${owner}` },
    ]);
    const anonymous = await newClient(undefined);
    const anon = await subscribed(anonymous, [{ event: "*" }]);

    const theirs = await insertTask(owner);
    const db = await serviceDb();
    await db.execute(sql`update public.agent_tasks set status = 'processing' where id = ${theirs}`);
    await db.execute(sql`delete from public.agent_tasks where id = ${theirs}`);
    const mine = await insertTask(stranger);
    await inboxes[0]?.waitFor(isRow(mine), "the stranger's own INSERT");
    // Changes are delivered in commit order, so the owner's three came (or not) before this one.
    expect(all.items.map((c) => [c.eventType, (c.new as { id?: string }).id])).toEqual([["INSERT", mine]]);
    expect(inboxes[1]?.items).toEqual([]);
    // The anon subscriber (no grant on agent_tasks) saw nothing either, judged after a later commit
    // reached the stranger through the same ordered feed.
    await roundTrip(anonymous);
    expect(anon.all.items).toEqual([]);
  });

  it("replaces the channel's claims on access_token and closes the channel on an expired one", async () => {
    const owner = await createUser();
    const stranger = await createUser();
    const session = await newClient(await tokenFor(stranger));
    const { inboxes, statuses, system } = await subscribed(session, [
      { event: "INSERT", filter: `workspace_id=eq.${owner}` },
      { event: "INSERT", filter: `workspace_id=eq.${stranger}` },
    ]);
    const [changes, own] = inboxes;
    if (!changes || !own) {
      throw new Error("inboxes missing");
    }
    const before = await insertTask(owner);
    // The stranger's own row, committed after, arrives after the owner's row was judged (and withheld).
    const mine = await insertTask(stranger);
    await own.waitFor(isRow(mine), "the stranger's own INSERT");
    // Now as a member of the owner's workspace (the owner's own session); the heartbeat's reply says
    // the server has handled the access_token frame sent before it.
    await session.realtime.setAuth(await tokenFor(owner));
    await roundTrip(session);
    const after = await insertTask(owner);
    await changes.waitFor(isRow(after), "the INSERT seen with the new token");
    expect(changes.items.map((c) => (c.new as { id: string }).id)).toEqual([after]);
    expect(before).not.toBe(after);

    await session.realtime.setAuth(await tokenFor(owner, { expiresInSeconds: -60 }));
    const closed = await statuses.waitFor((s) => s.status === "CLOSED", "CLOSED after an expired token");
    expect(closed.status).toBe("CLOSED");
    const error = await system.waitFor((m) => m.status === "error", "the system error");
    expect(error).toMatchObject({ extension: "system", status: "error" });
    expect(String(error.message)).toMatch(/Token has expired/);
  });

  it("stops delivering after phx_leave", async () => {
    const owner = await createUser();
    // Two clients: without a signed-in session, supabase-js answers later joins on the same client
    // with its own token callback (the publishable key, i.e. anon) instead of the setAuth token.
    const leaving = await subscribed(await newClient(await tokenFor(owner)), [
      { event: "*", filter: `workspace_id=eq.${owner}` },
    ]);
    const staying = await subscribed(await newClient(await tokenFor(owner)), [
      { event: "*", filter: `workspace_id=eq.${owner}` },
    ]);
    const first = await insertTask(owner);
    await leaving.all.waitFor(isRow(first), "the INSERT before leaving");
    expect(await leaving.channel.unsubscribe()).toBe("ok");
    const second = await insertTask(owner);
    await staying.all.waitFor(isRow(second), "the INSERT after leaving, on the other channel");
    expect(leaving.all.items.map((c) => (c.new as { id: string }).id)).toEqual([first]);
  });

  it("answers CHANNEL_ERROR to a join with a bad or expired token", async () => {
    for (const [token, reason] of [
      ["not-a-jwt", /MalformedJWT/],
      [await tokenFor(randomUUID(), { expiresInSeconds: -60 }), /InvalidJWTToken: Token has expired/],
    ] as const) {
      const client = await newClient(token);
      const { statuses, channel } = await subscribe(client, [{ event: "*" }]);
      const status = await statuses.waitFor(() => true, "a subscribe status");
      expect(status.status, JSON.stringify(statuses.items)).toBe("CHANNEL_ERROR");
      expect(status.error).toMatch(reason);
      await client.removeChannel(channel);
    }
  });

  it("delivers a row bigger than a NOTIFY payload", async () => {
    const owner = await createUser();
    const client = await newClient(await tokenFor(owner));
    const { all } = await subscribed(client, [{ event: "UPDATE", filter: `workspace_id=eq.${owner}` }]);
    const id = await insertTask(owner);
    const text = "x".repeat(50_000);
    const db = await serviceDb();
    await db.execute(
      sql`update public.agent_tasks set output = ${JSON.stringify({ text })}::jsonb where id = ${id}`,
    );
    const updated = await all.waitFor(isRow(id), "the big UPDATE");
    expect((updated.new as { output: { text: string } }).output.text).toBe(text);
  });

  it("with REPLICA IDENTITY FULL sends the whole old row of an UPDATE and filters DELETEs on it", async () => {
    const owner = await createUser();
    const stranger = await createUser();
    const db = await serviceDb();
    await db.execute(sql`alter table public.agent_tasks replica identity full`);
    try {
      const client = await newClient(await tokenFor(owner));
      const { all } = await subscribed(client, [{ event: "*", filter: `workspace_id=eq.${owner}` }]);
      const strangerClient = await newClient(await tokenFor(stranger));
      const watcher = await subscribed(strangerClient, [{ event: "*" }]);
      const id = await insertTask(owner);
      await db.execute(sql`update public.agent_tasks set status = 'processing' where id = ${id}`);
      const updated = await all.waitFor((c) => c.eventType === "UPDATE", "the UPDATE");
      expect(updated.old).toMatchObject({ id, status: "queued", workspace_id: owner });
      await db.execute(sql`delete from public.agent_tasks where id = ${id}`);
      const deleted = await all.waitFor((c) => c.eventType === "DELETE", "the filtered DELETE");
      expect(deleted.old).toEqual({ id });
      const mine = await insertTask(stranger);
      await watcher.all.waitFor(isRow(mine), "the stranger's own INSERT");
      expect(watcher.all.items.map((c) => c.eventType)).toEqual(["INSERT"]);
    } finally {
      await db.execute(sql`alter table public.agent_tasks replica identity default`);
    }
  });

  it("speaks vsn 1.0.0 too", async () => {
    const owner = await createUser();
    const client = await newClient(await tokenFor(owner), "1.0.0");
    const { all } = await subscribed(client, [{ event: "INSERT", filter: `workspace_id=eq.${owner}` }]);
    const id = await insertTask(owner);
    const inserted = await all.waitFor(isRow(id), "the INSERT over vsn 1.0.0");
    expect(inserted.new).toMatchObject({ id, workspace_id: owner });
  });

  it("relays broadcast on a public channel to the other subscribers", async () => {
    const name = `room-${randomUUID().slice(0, 8)}`;
    const received = new Inbox<Record<string, unknown>>();
    const listener = (await newClient(undefined)).channel(name);
    listener.on("broadcast", { event: "cursor" }, (message) => received.push(message));
    const listening = new Inbox<string>();
    listener.subscribe((status) => listening.push(status));
    await listening.waitFor((s) => s === "SUBSCRIBED", "the listener's SUBSCRIBED");
    const sender = (await newClient(undefined)).channel(name, { config: { broadcast: { ack: true } } });
    const sending = new Inbox<string>();
    sender.subscribe((status) => sending.push(status));
    await sending.waitFor((s) => s === "SUBSCRIBED", "the sender's SUBSCRIBED");
    expect(await sender.send({ type: "broadcast", event: "cursor", payload: { x: 1 } })).toBe("ok");
    const message = await received.waitFor(() => true, "the broadcast");
    expect(message).toMatchObject({ type: "broadcast", event: "cursor", payload: { x: 1 } });
    expect(await listener.unsubscribe()).toBe("ok");
    expect(await sender.unsubscribe()).toBe("ok");
  });

  it("survives malformed frames: the offending socket closes, others carry on", async () => {
    const url = `${baseUrl.replace("http", "ws")}/realtime/v1/websocket?apikey=${secrets.supabasePublishableKey}&vsn=2.0.0`;
    const open = async () => {
      const socket = new WebSocket(url);
      const messages = new Inbox<unknown[]>();
      const closes = new Inbox<number>();
      socket.on("message", (data, isBinary) =>
        messages.push(isBinary ? ["binary"] : (JSON.parse(data.toString()) as unknown[])),
      );
      socket.on("close", (code) => closes.push(code));
      socket.on("error", () => {});
      await new Promise<void>((resolve, reject) => {
        socket.once("open", () => resolve());
        socket.once("error", reject);
      });
      return { socket, messages, closes };
    };

    for (const frame of [
      "not json",
      JSON.stringify([1, 2, 3]),
      JSON.stringify({ topic: 1 }),
      Buffer.from([9, 9, 9]),
    ]) {
      const { socket, closes } = await open();
      socket.send(frame);
      expect(await closes.waitFor(() => true, `the close after ${String(frame)}`)).toBe(1011);
    }

    const { socket, messages } = await open();
    const reply = (ref: string) =>
      messages.waitFor(
        (m) => Array.isArray(m) && m[1] === ref && m[3] === "phx_reply",
        `the reply to ${ref}`,
      );
    socket.send(JSON.stringify([null, "1", "phoenix", "heartbeat", {}]));
    expect(await reply("1")).toEqual([null, "1", "phoenix", "phx_reply", { status: "ok", response: {} }]);
    socket.send(JSON.stringify(["2", "2", "realtime:x", "phx_join", "not an object"]));
    expect((await reply("2"))[4]).toMatchObject({ status: "error" });
    socket.send(JSON.stringify([null, "3", "realtime:nowhere", "broadcast", {}]));
    expect((await reply("3"))[4]).toEqual({ status: "error", response: { reason: "unmatched topic" } });
    socket.send(
      JSON.stringify([
        "4",
        "4",
        "realtime:y",
        "phx_join",
        { config: { postgres_changes: [{ event: "*", schema: "public", table: "no_such_table" }, 7] } },
      ]),
    );
    expect((await reply("4"))[4]).toMatchObject({ status: "ok" });
    const systemError = await messages.waitFor(
      (m) => Array.isArray(m) && m[3] === "system",
      "the postgres_changes system error",
    );
    expect(systemError[4]).toMatchObject({ extension: "postgres_changes", status: "error" });
    socket.send(
      JSON.stringify([
        "5",
        "5",
        "realtime:z",
        "phx_join",
        {
          config: {
            postgres_changes: [
              { event: "*", schema: "public", table: "agent_tasks", filter: "id=eq.not-a-uuid" },
            ],
          },
        },
      ]),
    );
    expect((await reply("5"))[4]).toMatchObject({ status: "ok" });
    socket.send(
      JSON.stringify([
        "6",
        "6",
        "realtime:w",
        "phx_join",
        {
          config: {
            postgres_changes: [{ event: "*", schema: "public", table: "agent_tasks", filter: "id=nope.1" }],
          },
        },
      ]),
    );
    expect((await reply("6"))[4]).toMatchObject({ status: "ok" });
    await messages.waitFor(
      (m) => Array.isArray(m) && m[3] === "system" && m[2] === "realtime:w",
      "the last system error",
    );
    expect(messages.items.filter((m) => Array.isArray(m) && m[3] === "system").map((m) => m[2])).toEqual([
      "realtime:y",
      "realtime:z",
      "realtime:w",
    ]);
    socket.close();

    // And the real client still works.
    const owner = await createUser();
    const client = await newClient(await tokenFor(owner));
    const { all } = await subscribed(client, [{ event: "INSERT", filter: `workspace_id=eq.${owner}` }]);
    const id = await insertTask(owner);
    await all.waitFor(isRow(id), "an INSERT after the malformed frames");
  });
});
