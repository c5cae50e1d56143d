import { type IncomingMessage, STATUS_CODES } from "node:http";
import type { Duplex } from "node:stream";
import { type RawData, type WebSocket, WebSocketServer } from "ws";
import type { SqlEngine } from "../../../lib/db/client";
import { log } from "../../../lib/log";
import type { AuthKeys } from "../../auth";
import { anonCaller, type Caller, verifyAccessToken } from "../caller";
import {
  type ChangeType,
  canSee,
  changePayload,
  describeTable,
  passesFilters,
  type RowChange,
  startChangeFeed,
  validateFilters,
} from "./changes";
import { type ColumnFilter, FilterError, parseFilter } from "./filters";
import {
  type BroadcastPayload,
  broadcastFromJson,
  decodeFrame,
  encodeBroadcast,
  encodeFrame,
  type Frame,
  parseVsn,
  type Vsn,
} from "./protocol";

/**
 * The local Supabase Realtime (`/realtime/v1/websocket`), for the dev server only: Phoenix channels
 * as realtime-js drives them, `postgres_changes` from the dev change capture (changes.ts) filtered
 * and checked against row-level security as each subscriber, and broadcast on public channels.
 *
 * Supported: vsn 1.0.0 and 2.0.0; `phx_join` (config.broadcast self/ack, config.postgres_changes,
 * `access_token`), `heartbeat`, `access_token` refresh, `phx_leave`, public `broadcast`.
 * Not supported, and refused rather than faked: private channels (hosted Realtime authorizes them
 * with policies on `realtime.messages`, which this database does not have: the join is refused as
 * hosted refuses a topic no policy allows), presence (an error reply), the REST broadcast endpoint.
 */

export interface RealtimeOptions {
  engine: SqlEngine;
  keys: AuthKeys;
  /** The only API key the socket accepts (`?apikey=` or an `x-api-key` header), as the gateway does. */
  publishableKey: string;
}

export interface RealtimeServer {
  /** Handles an HTTP upgrade whose path is `/realtime/v1/websocket`. */
  handleUpgrade(request: IncomingMessage, socket: Duplex, head: Buffer): void;
  /** Closes every socket (1001), stops the change feed and waits for work in flight. */
  close(): Promise<void>;
}

const PATH = "/realtime/v1/websocket";
const TOPIC_PREFIX = "realtime:";
/** setTimeout's longest delay; a token expiring later is checked again then. */
const MAX_TIMER_MS = 2_147_483_647;

type Row = Record<string, unknown>;

function isRow(value: unknown): value is Row {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

interface PostgresBinding {
  id: number;
  /** What the client sent, echoed back with the id so realtime-js can match its bindings. */
  params: Row;
  event: "*" | ChangeType;
  schema: string;
  table: string;
  filters: ColumnFilter[];
}

interface Channel {
  topic: string;
  subTopic: string;
  joinRef: string | null;
  caller: Caller;
  /** The user token in force; undefined when the channel runs as anon on the API key. */
  token: string | undefined;
  bindings: PostgresBinding[];
  broadcastSelf: boolean;
  broadcastAck: boolean;
  expiryTimer: NodeJS.Timeout | undefined;
  open: boolean;
}

/**
 * A stable id for a subscription's params, in the range of Erlang's `phash2` that hosted Realtime
 * uses (0..2^27-1): the same params get the same id, which realtime-js only matches, never parses.
 */
function bindingId(params: Row): number {
  const canonical = JSON.stringify(
    Object.keys(params)
      .sort()
      .map((key) => [key, params[key]]),
  );
  let hash = 0x811c9dc5;
  for (const byte of Buffer.from(canonical, "utf8")) {
    hash ^= byte;
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash & 0x7ffffff;
}

/** Turns one `config.postgres_changes` entry into a binding, with hosted Realtime's rules and messages. */
function parseBinding(params: unknown): PostgresBinding | string {
  if (!isRow(params)) {
    return `No subscription params provided. Please provide at least a \`schema\` or \`table\` to subscribe to: ${JSON.stringify(params)}`;
  }
  const upper = typeof params.event === "string" ? params.event.toUpperCase() : "*";
  const event = upper === "INSERT" || upper === "UPDATE" || upper === "DELETE" ? upper : "*";
  const { schema, table, filter } = params;
  let target: { schema: string; table: string; filter?: string } | undefined;
  if (typeof schema === "string" && typeof table === "string" && typeof filter === "string") {
    target = { schema, table, filter };
  } else if (typeof schema === "string" && typeof table === "string" && filter === undefined) {
    target = { schema, table };
  } else if (typeof schema === "string" && table === undefined && filter === undefined) {
    target = { schema, table: "*" };
  } else if (typeof table === "string" && schema === undefined && filter === undefined) {
    target = { schema: "public", table };
  }
  if (!target) {
    return `No subscription params provided. Please provide at least a \`schema\` or \`table\` to subscribe to: ${JSON.stringify(params)}`;
  }
  let filters: ColumnFilter[] = [];
  if (target.filter !== undefined) {
    try {
      filters = parseFilter(target.filter);
    } catch (error) {
      return `Error parsing \`filter\` params: ${error instanceof FilterError ? error.message : String(error)}`;
    }
  }
  if (filters.length > 0 && (target.table === "*" || target.schema === "*")) {
    return "A filter needs an explicit schema and table name.";
  }
  return { id: bindingId(params), params, event, schema: target.schema, table: target.table, filters };
}

interface TokenCheck {
  caller?: Caller;
  exp?: number;
  /** Hosted Realtime's error code (join replies prefix it) and message. */
  error?: { code: string; message: string };
}

/** Verifies a user token as hosted Realtime's `confirm_token` does: signature, `role` and `exp`. */
async function checkToken(keys: AuthKeys, token: string): Promise<TokenCheck> {
  try {
    const caller = await verifyAccessToken(keys, token);
    const exp = caller.claims.exp;
    if (typeof exp !== "number" || !Number.isInteger(exp)) {
      return { error: { code: "InvalidJWTToken", message: "Fields `role` and `exp` are required in JWT" } };
    }
    return { caller, exp };
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    if (code === "ERR_JWT_EXPIRED") {
      const exp = (error as { payload?: { exp?: unknown } }).payload?.exp;
      const ago = typeof exp === "number" ? Math.max(0, Math.floor(Date.now() / 1000) - exp) : 0;
      return { error: { code: "InvalidJWTToken", message: `Token has expired ${ago} seconds ago` } };
    }
    if (code === "ERR_JWS_SIGNATURE_VERIFICATION_FAILED") {
      return { error: { code: "JwtSignatureError", message: "Failed to validate JWT signature" } };
    }
    if (code === "ERR_JWS_INVALID" || code === "ERR_JWT_INVALID" || code === "ERR_JOSE_NOT_SUPPORTED") {
      return { error: { code: "MalformedJWT", message: "The token provided is not a valid JWT" } };
    }
    return {
      error: { code: "InvalidJWTToken", message: error instanceof Error ? error.message : String(error) },
    };
  }
}

/** The token a join or refresh names; API keys (`sb_…`) and absent tokens mean the socket's key. */
function userToken(payload: Row): string | undefined {
  const token = payload.access_token ?? payload.user_token;
  return typeof token === "string" && token !== "" && !token.startsWith("sb_") ? token : undefined;
}

/** A refusal on the HTTP upgrade, in hosted Realtime's JSON error shape. */
function refuse(socket: Duplex, status: number, message: string): void {
  const body = JSON.stringify({ error: message });
  socket.end(
    `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ""}\r\n` +
      "content-type: application/json; charset=utf-8\r\n" +
      `content-length: ${Buffer.byteLength(body)}\r\n` +
      "connection: close\r\n\r\n" +
      body,
  );
}

class Connection {
  readonly channels = new Map<string, Channel>();
  /** Frames are handled one after another, as a Phoenix channel handles its mailbox. */
  private queue: Promise<void> = Promise.resolve();

  constructor(
    readonly ws: WebSocket,
    readonly vsn: Vsn,
    private readonly hub: Hub,
  ) {
    ws.on("message", (data, isBinary) => this.receive(data, isBinary));
    ws.on("error", (error) => log.warn({ err: error }, "realtime: socket error"));
    ws.on("close", () => {
      for (const channel of this.channels.values()) {
        this.stopChannel(channel);
      }
      this.channels.clear();
      hub.connections.delete(this);
    });
  }

  /** Resolves when every frame received so far has been handled. */
  settled(): Promise<void> {
    return this.queue;
  }

  send(frame: Frame): void {
    if (this.ws.readyState === this.ws.OPEN) {
      this.ws.send(encodeFrame(this.vsn, frame));
    }
  }

  sendData(data: string | Buffer, binary: boolean): void {
    if (this.ws.readyState === this.ws.OPEN) {
      this.ws.send(data, { binary });
    }
  }

  private reply(frame: Frame, joinRef: string | null, status: "ok" | "error", response: unknown): void {
    this.send({
      joinRef,
      ref: frame.ref,
      topic: frame.topic,
      event: "phx_reply",
      payload: { status, response },
    });
  }

  private receive(data: RawData, isBinary: boolean): void {
    const buffer = Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data as ArrayBuffer);
    let frame: Frame;
    try {
      frame = decodeFrame(this.vsn, buffer, isBinary);
    } catch (error) {
      // Phoenix's serializer raises on a frame it cannot decode and the socket process dies with it:
      // the client sees its connection close. Other sockets are untouched.
      log.warn({ err: error }, "realtime: undecodable frame; closing the socket");
      this.ws.close(1011, "invalid frame");
      return;
    }
    this.queue = this.queue.then(() =>
      this.handle(frame).catch((error: unknown) => {
        log.warn({ err: error, topic: frame.topic, event: frame.event }, "realtime: frame handling failed");
        this.reply(frame, frame.joinRef, "error", {
          reason: "UnknownErrorOnChannel: Unknown Error on Channel",
        });
      }),
    );
  }

  private async handle(frame: Frame): Promise<void> {
    if (frame.topic === "phoenix") {
      if (frame.event === "heartbeat") {
        this.reply(frame, null, "ok", {});
      } else {
        this.reply(frame, null, "error", { reason: "unmatched topic" });
      }
      return;
    }
    if (frame.event === "phx_join") {
      await this.join(frame);
      return;
    }
    const channel = this.channels.get(frame.topic);
    if (!channel) {
      // Phoenix answers a leave for a channel it no longer has as done, anything else as unmatched.
      if (frame.event === "phx_leave") {
        this.reply(frame, frame.joinRef, "ok", {});
      } else {
        this.reply(frame, frame.joinRef, "error", { reason: "unmatched topic" });
      }
      return;
    }
    const payload = isRow(frame.payload) ? frame.payload : {};
    switch (frame.event) {
      case "phx_leave":
        this.reply(frame, channel.joinRef, "ok", {});
        this.closeChannel(channel);
        return;
      case "access_token":
        await this.refreshToken(channel, payload);
        return;
      case "broadcast":
        this.broadcast(channel, frame);
        return;
      case "presence":
        this.reply(frame, channel.joinRef, "error", {
          reason: "PresenceNotSupported: the local Realtime does not implement presence",
        });
        return;
      default:
        // Hosted Realtime logs unexpected client events and otherwise ignores them.
        return;
    }
  }

  private async join(frame: Frame): Promise<void> {
    const existing = this.channels.get(frame.topic);
    if (existing) {
      // Phoenix closes the channel a duplicate join replaces.
      this.closeChannel(existing);
    }
    const fail = (reason: string) => this.reply(frame, frame.joinRef, "error", { reason });
    if (!frame.topic.startsWith(TOPIC_PREFIX)) {
      fail("unmatched topic");
      return;
    }
    const subTopic = frame.topic.slice(TOPIC_PREFIX.length);
    if (!subTopic) {
      fail("TopicNameRequired: You must provide a topic name");
      return;
    }
    if (!isRow(frame.payload)) {
      fail("UnknownErrorOnChannel: the join payload must be an object");
      return;
    }
    const config = isRow(frame.payload.config) ? frame.payload.config : {};
    const token = userToken(frame.payload);
    let caller = anonCaller;
    let exp: number | undefined;
    if (token) {
      const checked = await checkToken(this.hub.options.keys, token);
      if (!checked.caller) {
        fail(`${checked.error?.code}: ${checked.error?.message}`);
        return;
      }
      caller = checked.caller;
      exp = checked.exp;
    }
    if (config.private === true) {
      fail(`Unauthorized: You do not have permissions to read from this Channel topic: ${subTopic}`);
      return;
    }

    const requested = Array.isArray(config.postgres_changes)
      ? config.postgres_changes.filter((entry) => entry !== null && entry !== undefined)
      : [];
    const parsed = requested.map(parseBinding);
    let error = parsed.find((entry): entry is string => typeof entry === "string");
    const bindings = parsed.filter((entry): entry is PostgresBinding => typeof entry !== "string");
    if (!error) {
      error = await this.hub.validate(bindings);
    }
    const options = isRow(config.postgres_changes_options) ? config.postgres_changes_options : {};
    if (error && options.wait === true) {
      fail(`UnableToSubscribeToPostgres: ${error}`);
      return;
    }

    const broadcast = isRow(config.broadcast) ? config.broadcast : {};
    const channel: Channel = {
      topic: frame.topic,
      subTopic,
      joinRef: frame.joinRef,
      caller,
      token,
      // Subscriptions are made before the reply (as with `postgres_changes_options.wait`), so a
      // change committed after SUBSCRIBED is delivered.
      bindings: error ? [] : bindings,
      broadcastSelf: broadcast.self === true,
      broadcastAck: broadcast.ack === true,
      expiryTimer: undefined,
      open: true,
    };
    this.channels.set(frame.topic, channel);
    this.scheduleExpiry(channel, exp);
    this.reply(frame, frame.joinRef, "ok", {
      postgres_changes: parsed.map((entry, index) =>
        typeof entry === "string"
          ? { ...(isRow(requested[index]) ? requested[index] : {}), id: 0 }
          : { ...entry.params, id: entry.id },
      ),
    });
    if (error) {
      this.system(
        channel,
        "postgres_changes",
        "error",
        `Unable to subscribe to changes with given parameters: ${error}`,
      );
    } else if (bindings.length > 0) {
      this.system(channel, "postgres_changes", "ok", "Subscribed to PostgreSQL");
    }
  }

  private system(channel: Channel, extension: string, status: "ok" | "error", message: string): void {
    this.send({
      joinRef: channel.joinRef,
      ref: null,
      topic: channel.topic,
      event: "system",
      payload: { extension, status, message, channel: channel.subTopic },
    });
  }

  /** Re-checks the token when it expires; hosted Realtime shuts the channel down then. */
  private scheduleExpiry(channel: Channel, exp: number | undefined): void {
    if (channel.expiryTimer) {
      clearTimeout(channel.expiryTimer);
      channel.expiryTimer = undefined;
    }
    if (exp === undefined) {
      return;
    }
    const delay = exp * 1000 - Date.now();
    channel.expiryTimer = setTimeout(
      () => {
        channel.expiryTimer = undefined;
        if (!channel.open) {
          return;
        }
        if (Date.now() >= exp * 1000) {
          const ago = Math.max(0, Math.floor(Date.now() / 1000) - exp);
          this.shutdown(channel, `Token has expired ${ago} seconds ago`);
        } else {
          this.scheduleExpiry(channel, exp);
        }
      },
      Math.min(Math.max(delay, 0), MAX_TIMER_MS),
    );
    channel.expiryTimer.unref();
  }

  /** `access_token`: a new user token replaces the channel's claims; a bad one closes the channel. */
  private async refreshToken(channel: Channel, payload: Row): Promise<void> {
    const token = userToken(payload);
    if (!token || token === channel.token) {
      return;
    }
    const checked = await checkToken(this.hub.options.keys, token);
    if (!channel.open) {
      return;
    }
    if (!checked.caller) {
      this.shutdown(channel, checked.error?.message ?? "Invalid token");
      return;
    }
    channel.caller = checked.caller;
    channel.token = token;
    this.scheduleExpiry(channel, checked.exp);
  }

  /** Hosted Realtime's `shutdown_response`: a system error message, then the channel closes. */
  private shutdown(channel: Channel, message: string): void {
    this.system(channel, "system", "error", message);
    this.closeChannel(channel);
  }

  private stopChannel(channel: Channel): void {
    channel.open = false;
    if (channel.expiryTimer) {
      clearTimeout(channel.expiryTimer);
      channel.expiryTimer = undefined;
    }
  }

  /** Stops delivery and tells the client the channel closed (`phx_close`). */
  closeChannel(channel: Channel): void {
    this.stopChannel(channel);
    if (this.channels.get(channel.topic) === channel) {
      this.channels.delete(channel.topic);
    }
    this.send({
      joinRef: channel.joinRef,
      ref: channel.joinRef,
      topic: channel.topic,
      event: "phx_close",
      payload: {},
    });
  }

  private broadcast(channel: Channel, frame: Frame): void {
    const message: BroadcastPayload | undefined = frame.broadcast ?? broadcastFromJson(frame.payload);
    if (message) {
      this.hub.broadcast(channel, message);
    }
    if (channel.broadcastAck) {
      this.reply(frame, channel.joinRef, "ok", {});
    }
  }
}

/** All sockets, their channels, and the change feed's fan-out. */
class Hub {
  readonly connections = new Set<Connection>();

  constructor(readonly options: RealtimeOptions) {}

  /** Checks the tables exist and the filters fit them; answers the first problem, if any. */
  async validate(bindings: PostgresBinding[]): Promise<string | undefined> {
    for (const binding of bindings) {
      if (binding.table === "*" || binding.schema === "*") {
        continue;
      }
      const info = await describeTable(this.options.engine, binding.schema, binding.table);
      if (!info) {
        return `relation "${binding.schema}.${binding.table}" does not exist`;
      }
      const problem = await validateFilters(this.options.engine, info, binding.filters);
      if (problem) {
        return problem;
      }
    }
    return undefined;
  }

  broadcast(from: Channel, message: BroadcastPayload): void {
    for (const other of this.connections) {
      const channel = other.channels.get(from.topic);
      if (!channel?.open || (channel === from && !from.broadcastSelf)) {
        continue;
      }
      const encoded = encodeBroadcast(other.vsn, channel.topic, message);
      if (encoded) {
        other.sendData(encoded.data, encoded.binary);
      }
    }
  }

  /** Delivers one committed change to every channel whose bindings, filters and RLS let it through. */
  async deliver(change: RowChange): Promise<void> {
    const matches = (binding: PostgresBinding) =>
      (binding.schema === "*" || binding.schema === change.schema) &&
      (binding.table === "*" || binding.table === change.table) &&
      (binding.event === "*" || binding.event === change.type);
    const targets: Array<{ connection: Connection; channel: Channel; bindings: PostgresBinding[] }> = [];
    for (const connection of this.connections) {
      for (const channel of connection.channels.values()) {
        const bindings = channel.bindings.filter(matches);
        if (channel.open && bindings.length > 0) {
          targets.push({ connection, channel, bindings });
        }
      }
    }
    if (targets.length === 0) {
      return;
    }
    const { engine } = this.options;
    const info = await describeTable(engine, change.schema, change.table);
    if (!info) {
      return;
    }
    const filterResults = new Map<string, boolean>();
    const visibility = new Map<string, boolean>();
    for (const { connection, channel, bindings } of targets) {
      const ids = new Set<number>();
      for (const binding of bindings) {
        const key = JSON.stringify(binding.filters);
        let passes = filterResults.get(key);
        if (passes === undefined) {
          passes = await passesFilters(engine, info, change, binding.filters);
          filterResults.set(key, passes);
        }
        if (passes) {
          ids.add(binding.id);
        }
      }
      if (ids.size === 0) {
        continue;
      }
      // The channel's claims at delivery time: a refreshed token applies to the next change.
      const caller = channel.caller;
      const callerKey = `${caller.role}:${JSON.stringify(caller.claims)}`;
      let visible = visibility.get(callerKey);
      if (visible === undefined) {
        visible = await canSee(engine, caller, info, change);
        visibility.set(callerKey, visible);
      }
      if (!visible || !channel.open) {
        continue;
      }
      connection.send({
        joinRef: null,
        ref: null,
        topic: channel.topic,
        event: "postgres_changes",
        payload: { ids: [...ids], data: changePayload(info, change, caller.role) },
      });
    }
  }
}

/** Starts the local Realtime on `engine` (run `installChangeCapture(engine)` after migrations). */
export async function startRealtime(options: RealtimeOptions): Promise<RealtimeServer> {
  const hub = new Hub(options);
  // Inbound frames are small (joins, tokens, broadcasts); hosted Realtime caps them too.
  const wss = new WebSocketServer({ noServer: true, maxPayload: 1024 * 1024 });
  const feed = await startChangeFeed(options.engine, (change) => hub.deliver(change));
  let closing = false;

  return {
    handleUpgrade(request, socket, head) {
      socket.on("error", (error) => log.warn({ err: error }, "realtime: upgrade socket error"));
      if (closing) {
        refuse(socket, 503, "Realtime is restarting, please standby");
        return;
      }
      const url = new URL(request.url ?? "/", "http://localhost");
      if (url.pathname !== PATH) {
        refuse(socket, 404, "Not found");
        return;
      }
      const headerKey = request.headers["x-api-key"];
      const apiKey =
        (typeof headerKey === "string" ? headerKey : undefined) ?? url.searchParams.get("apikey");
      if (!apiKey) {
        refuse(socket, 401, "API key is missing");
        return;
      }
      if (apiKey !== options.publishableKey) {
        // The gateway in front of hosted Realtime refuses an unknown key before Realtime sees it.
        refuse(socket, 401, "Invalid API key");
        return;
      }
      const vsn = parseVsn(url.searchParams.get("vsn"));
      if (!vsn) {
        // Phoenix refuses a serializer version it does not have.
        refuse(socket, 403, "unsupported vsn");
        return;
      }
      wss.handleUpgrade(request, socket, head, (ws) => {
        hub.connections.add(new Connection(ws, vsn, hub));
      });
    },

    async close() {
      closing = true;
      const connections = [...hub.connections];
      await Promise.all(
        connections.map(
          (connection) =>
            new Promise<void>((resolve) => {
              const { ws } = connection;
              if (ws.readyState === ws.CLOSED) {
                resolve();
                return;
              }
              // A client that never answers the close handshake is cut off.
              const timer = setTimeout(() => ws.terminate(), 2_000);
              ws.once("close", () => {
                clearTimeout(timer);
                resolve();
              });
              ws.close(1001, "server shutting down");
            }),
        ),
      );
      await Promise.all(connections.map((connection) => connection.settled()));
      await feed.close();
      await new Promise<void>((resolve) => wss.close(() => resolve()));
    },
  };
}
