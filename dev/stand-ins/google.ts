import { createHash, generateKeyPairSync, randomBytes, randomUUID } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { SignJWT } from "jose";

/**
 * A stand-in for Google's OAuth 2.0 server and the Gmail and Calendar APIs, speaking their wire
 * format, for any number of accounts on one server (an API call is routed by its access token).
 *
 * OAuth, as Google documents it (developers.google.com/identity/protocols/oauth2/web-server and
 * /oauth2/native-app for PKCE): `GET /o/oauth2/v2/auth` is the consent screen. The consenting
 * account is `login_hint`'s or the one set with `consentAs`; it can refuse or untick scopes, as a
 * person can. It redirects to a registered redirect URI with a single-use `code`. `POST /token`
 * exchanges the code (client secret, redirect URI and the PKCE S256 verifier checked; `invalid_grant`
 * otherwise) for an access token, a refresh token and an RS256 ID token, and refreshes (400
 * `invalid_grant` once the token is revoked); `POST /revoke` revokes a token (400 `invalid_token` for
 * an unknown one).
 *
 * Per account: `POST /gmail/v1/users/me/messages/send` (`raw` base64url RFC 5322),
 * `GET /gmail/v1/users/me/messages?q=rfc822msgid:…` (Sent search). Faults can be queued, each
 * answering with the body Gmail documents (developers.google.com/gmail/api/guides/handle-errors):
 * the mail-sending limit (429 "User-rate limit exceeded.  Retry after <time> (Mail sending)", the
 * time only in the message), the daily sending quota (429 "Daily user sending quota exceeded."),
 * the per-user rate limit (429 with its retry time in the message; 403 userRateLimitExceeded),
 * too many concurrent requests, the project's daily limit (403 dailyLimitExceeded), a 500, or a
 * send that succeeds but whose answer is lost (the connection drops after the message is stored).
 * For push: mailbox history (`history.list` with `historyTypes`, `labelId`, `maxResults` and
 * paging; 404 below the oldest record; our own sent messages appear with the SENT label),
 * `messages.get` (`format=metadata` returns only the `metadataHeaders` asked), `getProfile`, `watch`,
 * `stop`, and Google's token-signing keys at `/oauth2/v1/certs` with `signPushToken` minting OIDC
 * tokens as a Pub/Sub push subscription does. For Calendar: freeBusy, events insert/get,
 * events.list with sync tokens, pages and 410 for an expired token, events.watch and channels.stop,
 * and `notify` sending a push notification the way Google does (headers only) to a channel's address.
 */
export interface InboxMessage {
  id: string;
  threadId: string;
  historyId: number;
  labelIds: string[];
  headers: Record<string, string>;
  snippet: string;
  /** The whole RFC 5322 message, for `format=raw`; without it the headers and the snippet stand for it. */
  mime?: string;
}
export interface SentMessage {
  id: string;
  threadId: string;
  historyId: number;
  raw: string;
  mime: string;
  messageId: string | undefined;
  to: string | undefined;
  at: number;
}

type Fault =
  | "sending_limit"
  | "daily_quota"
  | "rate_limited"
  | "user_rate_limit"
  | "concurrent"
  | "project_daily_limit"
  | "server_error"
  | "lost_answer"
  | "watch_error"
  | "calendar_watch_error";

export interface CalendarChannel {
  id: string;
  token: string;
  address: string;
  resourceId: string;
  expiration: number;
  ttl: number;
  messageNumber: number;
  stopped: boolean;
}

/** One Google account: its mailbox, its calendar and its tokens. */
export class GoogleAccount {
  readonly sent: SentMessage[] = [];
  readonly searches: string[] = [];
  readonly inbox: InboxMessage[] = [];
  readonly watches: unknown[] = [];
  /** Calendar: events by id, extra busy intervals, and whether the account has Google Meet. */
  readonly events = new Map<
    string,
    Record<string, unknown> & {
      start: { dateTime: string; timeZone?: string };
      end: { dateTime: string };
      status: string;
    }
  >();
  readonly busy: { start: string; end: string }[] = [];
  meetSupported = true;
  insertCalls = 0;
  /** The account's own address (the sending mailbox and the calendar's owner). */
  mailbox = "sam@northwind-roasters.com";
  /** Calendar changes: each event's change sequence; sync tokens name a point in it. */
  private readonly eventSeq = new Map<string, number>();
  private calendarSeq = 0;
  /** Sync tokens from before this point answer 410 (Google expired them). */
  oldestSyncSeq = 0;
  eventsPageSize = 2;
  readonly listCalls: { syncToken: string | null; pageToken: string | null }[] = [];
  readonly channels = new Map<string, CalendarChannel>();
  readonly resourceId = `res-${randomUUID().slice(0, 8)}`;
  historyId = 1000;
  /** History older than this is gone (history.list answers 404). */
  oldestHistoryId = 0;
  historyPageSize = 2;
  private faults: Fault[] = [];
  /** Refresh tokens Google would still honour, and the access tokens issued for them. */
  readonly refreshTokens = new Set<string>();
  readonly accessTokens = new Set<string>();
  readonly revoked: string[] = [];
  /** The account's stable subject id, as in Google's ID tokens. */
  readonly sub = String(100_000_000_000_000_000_000n + BigInt(Math.floor(Math.random() * 1e15)));
  /** Gmail users.stop calls (a disconnect stops the watch). */
  stops = 0;

  constructor(mailbox?: string) {
    if (mailbox) {
      this.mailbox = mailbox;
    }
  }

  /** A refresh token for this account, as a completed consent gives. */
  issueRefreshToken(): string {
    const token = `1//${randomBytes(24).toString("base64url")}`;
    this.refreshTokens.add(token);
    return token;
  }

  issueAccessToken(): string {
    const token = `ya29.${randomBytes(24).toString("base64url")}`;
    this.accessTokens.add(token);
    return token;
  }

  /** Google revoking every token of the account (the user removed the app, or changed password). */
  revokeAll(): void {
    this.revoked.push(...this.refreshTokens);
    this.refreshTokens.clear();
    this.accessTokens.clear();
  }

  fail(...faults: Fault[]): void {
    this.faults.push(...faults);
  }

  private touch(id: string): void {
    this.calendarSeq += 1;
    this.eventSeq.set(id, this.calendarSeq);
  }

  /** A meeting someone adds to the calendar in Google Calendar itself. */
  addMeeting(meeting: { summary: string; start: Date; minutes: number; attendees: string[] }): string {
    const id = randomUUID().replaceAll("-", "");
    this.events.set(id, {
      id,
      status: "confirmed",
      summary: meeting.summary,
      start: { dateTime: meeting.start.toISOString(), timeZone: "Europe/London" },
      end: { dateTime: new Date(meeting.start.getTime() + meeting.minutes * 60_000).toISOString() },
      attendees: [
        { email: this.mailbox, self: true, organizer: true, responseStatus: "accepted" },
        ...meeting.attendees.map((email) => ({ email, responseStatus: "needsAction" })),
      ],
      hangoutLink: `https://meet.google.com/${id.slice(0, 3)}-${id.slice(3, 7)}-${id.slice(7, 10)}`,
      iCalUID: `${id}@google.com`,
    });
    this.touch(id);
    return id;
  }

  moveEvent(id: string, start: Date, minutes: number): void {
    const event = this.events.get(id);
    if (!event) {
      throw new Error(`no event ${id}`);
    }
    event.start = { dateTime: start.toISOString() };
    event.end = { dateTime: new Date(start.getTime() + minutes * 60_000).toISOString() };
    this.touch(id);
  }

  cancelEvent(id: string): void {
    const event = this.events.get(id);
    if (!event) {
      throw new Error(`no event ${id}`);
    }
    event.status = "cancelled";
    this.touch(id);
  }

  /** Google's notification for a channel: headers only, the next message number. */
  notificationHeaders(channel: CalendarChannel, state: "sync" | "exists" = "exists"): Record<string, string> {
    channel.messageNumber += 1;
    return {
      "x-goog-channel-id": channel.id,
      "x-goog-channel-token": channel.token,
      "x-goog-channel-expiration": new Date(channel.expiration).toUTCString(),
      "x-goog-resource-id": channel.resourceId,
      "x-goog-resource-uri": `https://www.googleapis.com/calendar/v3/calendars/primary/events?alt=json`,
      "x-goog-resource-state": state,
      "x-goog-message-number": String(channel.messageNumber),
    };
  }

  /** Sends a notification to the live channel's address as Google does. */
  async notify(state: "sync" | "exists" = "exists", channel = this.liveChannel()) {
    if (!channel) {
      throw new Error("no live channel");
    }
    const response = await fetch(channel.address, {
      method: "POST",
      headers: { ...this.notificationHeaders(channel, state), "content-length": "0" },
    });
    return { status: response.status, body: (await response.json()) as Record<string, unknown> };
  }

  liveChannel(): CalendarChannel | undefined {
    return [...this.channels.values()].filter((c) => !c.stopped).at(-1);
  }
  /** A message arriving in the mailbox (a reply, a bounce…): a new history record. */
  receive(message: {
    threadId: string;
    headers: Record<string, string>;
    snippet: string;
    mime?: string;
  }): InboxMessage {
    this.historyId += 1;
    const incoming: InboxMessage = {
      id: randomUUID().replaceAll("-", "").slice(0, 16),
      threadId: message.threadId,
      historyId: this.historyId,
      labelIds: ["INBOX", "UNREAD"],
      headers: message.headers,
      snippet: message.snippet,
      ...(message.mime ? { mime: message.mime } : {}),
    };
    this.inbox.push(incoming);
    return incoming;
  }

  /** Everything in the mailbox: what arrived (INBOX) and what it sent (SENT), as Gmail lists them. */
  private mailboxMessages(): InboxMessage[] {
    return [
      ...this.inbox,
      ...this.sent.map((m) => ({
        id: m.id,
        threadId: m.threadId,
        historyId: m.historyId,
        labelIds: ["SENT"],
        headers: mimeHeaders(m.mime),
        snippet: "",
        mime: m.mime,
      })),
    ];
  }

  /** The Pub/Sub push body for the mailbox's current history id. */
  pushBody(emailAddress: string, messageId = randomUUID(), historyId = this.historyId) {
    return {
      message: {
        data: Buffer.from(JSON.stringify({ emailAddress, historyId })).toString("base64"),
        messageId,
        message_id: messageId,
        publishTime: new Date().toISOString(),
      },
      subscription: "projects/stand-in/subscriptions/gmail-push",
    };
  }

  /** Answers one API call already authorised for this account. */
  handleApi(
    req: IncomingMessage,
    res: ServerResponse,
    url: URL,
    body: string,
    reply: (status: number, data: unknown, headers?: Record<string, string>) => void,
  ): void {
    if (req.method === "POST" && url.pathname === "/gmail/v1/users/me/messages/send") {
      const fault = this.faults.shift();
      const limit = fault ? sendFault(fault) : undefined;
      if (limit) {
        reply(limit.status, { error: limit.error });
        return;
      }
      if (fault === "server_error") {
        reply(500, { error: { code: 500, message: "Backend Error", status: "INTERNAL" } });
        return;
      }
      const { raw, threadId } = JSON.parse(body) as { raw: string; threadId?: string };
      const mime = Buffer.from(raw, "base64url").toString("utf8");
      this.historyId += 1;
      const message: SentMessage = {
        id: randomUUID().replaceAll("-", "").slice(0, 16),
        threadId: threadId ?? randomUUID().replaceAll("-", "").slice(0, 16),
        historyId: this.historyId,
        raw,
        mime,
        messageId: /^Message-ID: (.+)$/im.exec(mime)?.[1]?.trim(),
        to: /^To: (.+)$/im.exec(mime)?.[1]?.trim(),
        at: Date.now(),
      };
      this.sent.push(message);
      if (fault === "lost_answer") {
        res.destroy();
        return;
      }
      reply(200, { id: message.id, threadId: message.threadId, labelIds: ["SENT"] });
      return;
    }
    if (req.method === "POST" && url.pathname === "/calendar/v3/freeBusy") {
      const { timeMin, timeMax, items } = JSON.parse(body) as {
        timeMin: string;
        timeMax: string;
        items: { id: string }[];
      };
      const from = Date.parse(timeMin);
      const to = Date.parse(timeMax);
      const busy = [
        ...this.busy,
        ...[...this.events.values()]
          .filter((event) => event.status !== "cancelled")
          .map((event) => ({ start: event.start.dateTime, end: event.end.dateTime })),
      ].filter((slot) => Date.parse(slot.start) < to && Date.parse(slot.end) > from);
      reply(200, {
        kind: "calendar#freeBusy",
        timeMin,
        timeMax,
        calendars: Object.fromEntries(items.map((item) => [item.id, { busy }])),
      });
      return;
    }
    if (req.method === "POST" && /^\/calendar\/v3\/calendars\/[^/]+\/events\/watch$/.test(url.pathname)) {
      if (this.faults[0] === "calendar_watch_error") {
        this.faults.shift();
        reply(500, { error: { code: 500, message: "Backend Error", status: "INTERNAL" } });
        return;
      }
      const request = JSON.parse(body) as {
        id: string;
        type: string;
        address: string;
        token?: string;
        params?: { ttl?: string };
      };
      const ttl = Number(request.params?.ttl ?? "604800");
      const channel: CalendarChannel = {
        id: request.id,
        token: request.token ?? "",
        address: request.address,
        resourceId: this.resourceId,
        expiration: Date.now() + Math.min(ttl, 30 * 86_400) * 1000,
        ttl,
        messageNumber: 0,
        stopped: false,
      };
      this.channels.set(channel.id, channel);
      reply(200, {
        kind: "api#channel",
        id: channel.id,
        resourceId: channel.resourceId,
        resourceUri: "https://www.googleapis.com/calendar/v3/calendars/primary/events?alt=json",
        token: channel.token,
        expiration: String(channel.expiration),
      });
      return;
    }
    if (req.method === "POST" && url.pathname === "/calendar/v3/channels/stop") {
      const { id, resourceId } = JSON.parse(body) as { id: string; resourceId: string };
      const channel = this.channels.get(id);
      if (!channel || channel.resourceId !== resourceId || channel.stopped) {
        reply(404, {
          error: { code: 404, message: `Channel '${id}' not found for project`, status: "NOT_FOUND" },
        });
        return;
      }
      channel.stopped = true;
      res.writeHead(204);
      res.end();
      return;
    }
    if (req.method === "GET" && /^\/calendar\/v3\/calendars\/[^/]+\/events$/.test(url.pathname)) {
      const syncToken = url.searchParams.get("syncToken");
      const pageToken = url.searchParams.get("pageToken");
      this.listCalls.push({ syncToken, pageToken });
      const since = syncToken ? Number(syncToken.replace(/^sync-/, "")) : undefined;
      if (since !== undefined && (!Number.isFinite(since) || since < this.oldestSyncSeq)) {
        reply(410, {
          error: {
            code: 410,
            message: "Sync token is no longer valid, a full sync is required.",
            errors: [
              { domain: "calendar", reason: "fullSyncRequired", message: "Sync token is no longer valid." },
            ],
          },
        });
        return;
      }
      // A page token pins the listing to the point its first page was taken at.
      const [snapshot, offset] = pageToken ? pageToken.split(":").map(Number) : [this.calendarSeq, 0];
      const items = [...this.events.values()]
        .filter((event) => {
          const seq = this.eventSeq.get(String(event.id)) ?? 0;
          return seq <= (snapshot ?? 0) && (since === undefined ? event.status !== "cancelled" : seq > since);
        })
        .sort((a, b) => (this.eventSeq.get(String(a.id)) ?? 0) - (this.eventSeq.get(String(b.id)) ?? 0));
      const start = offset ?? 0;
      const page = items.slice(start, start + this.eventsPageSize);
      const more = start + this.eventsPageSize < items.length;
      reply(200, {
        kind: "calendar#events",
        items: page,
        ...(more
          ? { nextPageToken: `${snapshot}:${start + this.eventsPageSize}` }
          : { nextSyncToken: `sync-${snapshot}` }),
      });
      return;
    }
    const eventPath = /^\/calendar\/v3\/calendars\/([^/]+)\/events(?:\/([^/]+))?$/.exec(url.pathname);
    if (eventPath && req.method === "POST" && !eventPath[2]) {
      this.insertCalls += 1;
      const event = JSON.parse(body) as Record<string, unknown> & {
        id?: string;
        start: { dateTime: string };
        end: { dateTime: string };
        conferenceData?: { createRequest?: unknown };
      };
      const id = event.id ?? randomUUID().replaceAll("-", "");
      if (this.events.has(id)) {
        reply(409, {
          error: {
            code: 409,
            message: "The requested identifier already exists.",
            errors: [{ reason: "duplicate" }],
          },
        });
        return;
      }
      if (event.conferenceData?.createRequest && !this.meetSupported) {
        reply(400, {
          error: { code: 400, message: "Invalid conference type value.", errors: [{ reason: "invalid" }] },
        });
        return;
      }
      const stored = {
        ...event,
        id,
        status: "confirmed",
        iCalUID: `${id}@google.com`,
        htmlLink: `https://calendar.google.com/event?eid=${id}`,
        ...(event.conferenceData?.createRequest
          ? { hangoutLink: `https://meet.google.com/${id.slice(0, 3)}-${id.slice(3, 7)}-${id.slice(7, 10)}` }
          : {}),
      };
      delete (stored as { conferenceData?: unknown }).conferenceData;
      this.events.set(id, stored);
      this.touch(id);
      reply(200, stored);
      return;
    }
    if (eventPath && req.method === "GET" && eventPath[2]) {
      const event = this.events.get(decodeURIComponent(eventPath[2]));
      if (!event) {
        reply(404, { error: { code: 404, message: "Not Found" } });
        return;
      }
      reply(200, event);
      return;
    }
    if (req.method === "GET" && url.pathname === "/gmail/v1/users/me/profile") {
      reply(200, { emailAddress: this.mailbox, historyId: String(this.historyId) });
      return;
    }
    if (req.method === "POST" && url.pathname === "/gmail/v1/users/me/watch") {
      if (this.faults[0] === "watch_error") {
        this.faults.shift();
        reply(500, { error: { code: 500, message: "Backend Error", status: "INTERNAL" } });
        return;
      }
      this.watches.push(JSON.parse(body));
      reply(200, { historyId: String(this.historyId), expiration: String(Date.now() + 7 * 86_400_000) });
      return;
    }
    // https://developers.google.com/gmail/api/reference/rest/v1/users.history/list
    if (req.method === "GET" && url.pathname === "/gmail/v1/users/me/history") {
      const start = Number(url.searchParams.get("startHistoryId"));
      if (!url.searchParams.get("startHistoryId") || !Number.isFinite(start)) {
        reply(400, badRequest("Invalid startHistoryId"));
        return;
      }
      if (start < this.oldestHistoryId) {
        reply(404, { error: { code: 404, message: "Requested entity was not found.", status: "NOT_FOUND" } });
        return;
      }
      const maxResults = Number(url.searchParams.get("maxResults") ?? "100");
      if (!Number.isInteger(maxResults) || maxResults < 1 || maxResults > 500) {
        reply(400, badRequest("Invalid maxResults"));
        return;
      }
      // Only messageAdded records exist here; a filter without it leaves nothing.
      const types = url.searchParams.getAll("historyTypes");
      const labelId = url.searchParams.get("labelId");
      const added = types.length > 0 && !types.includes("messageAdded") ? [] : this.mailboxMessages();
      const records = added
        .filter((m) => m.historyId > start && (!labelId || m.labelIds.includes(labelId)))
        .sort((a, b) => a.historyId - b.historyId);
      const offset = Number(url.searchParams.get("pageToken") ?? "0");
      // Gmail may return fewer records than maxResults on a page; this one pages at historyPageSize.
      const size = Math.min(maxResults, this.historyPageSize);
      const page = records.slice(offset, offset + size);
      reply(200, {
        ...(page.length
          ? {
              history: page.map((m) => ({
                id: String(m.historyId),
                messages: [{ id: m.id, threadId: m.threadId }],
                messagesAdded: [{ message: { id: m.id, threadId: m.threadId, labelIds: m.labelIds } }],
              })),
            }
          : {}),
        historyId: String(this.historyId),
        ...(offset + size < records.length ? { nextPageToken: String(offset + size) } : {}),
      });
      return;
    }
    // https://developers.google.com/gmail/api/reference/rest/v1/users.messages/get
    const single = /^\/gmail\/v1\/users\/me\/messages\/([^/]+)$/.exec(url.pathname);
    if (req.method === "GET" && single) {
      const message = this.mailboxMessages().find((m) => m.id === single[1]);
      if (!message) {
        reply(404, { error: { code: 404, message: "Requested entity was not found.", status: "NOT_FOUND" } });
        return;
      }
      const format = url.searchParams.get("format") ?? "full";
      const asked = url.searchParams.getAll("metadataHeaders").map((name) => name.toLowerCase());
      const headers = Object.entries(message.headers)
        .filter(([name]) => format !== "metadata" || asked.length === 0 || asked.includes(name.toLowerCase()))
        .map(([name, value]) => ({ name, value }));
      // Format RAW: "the full email message data with body content in the raw field as a base64url
      // encoded string; the payload field is not used" (users.messages Format enum).
      const raw =
        format === "raw"
          ? {
              raw: Buffer.from(
                message.mime
                  ? message.mime
                  : `${Object.entries(message.headers)
                      .map(([name, value]) => `${name}: ${value}`)
                      .join("\r\n")}\r\n\r\n${message.snippet}\r\n`,
              ).toString("base64url"),
            }
          : {};
      reply(200, {
        id: message.id,
        threadId: message.threadId,
        labelIds: message.labelIds,
        snippet: message.snippet,
        historyId: String(message.historyId),
        ...raw,
        ...(format === "minimal" || format === "raw" ? {} : { payload: { headers } }),
      });
      return;
    }
    if (req.method === "GET" && url.pathname === "/gmail/v1/users/me/messages") {
      const q = url.searchParams.get("q") ?? "";
      this.searches.push(q);
      if (!q.includes("rfc822msgid:")) {
        reply(200, {
          messages: this.inbox.map((m) => ({ id: m.id, threadId: m.threadId })),
          resultSizeEstimate: this.inbox.length,
        });
        return;
      }
      const wanted = /rfc822msgid:(\S+)/.exec(q)?.[1];
      const found = this.sent.filter((m) => wanted && m.messageId === `<${wanted}>`);
      reply(
        200,
        found.length
          ? {
              messages: found.map((m) => ({ id: m.id, threadId: m.threadId })),
              resultSizeEstimate: found.length,
            }
          : { resultSizeEstimate: 0 },
      );
      return;
    }
    if (req.method === "POST" && url.pathname === "/gmail/v1/users/me/stop") {
      this.stops += 1;
      res.writeHead(204);
      res.end();
      return;
    }
    reply(404, { error: { code: 404, message: "Requested entity was not found.", status: "NOT_FOUND" } });
  }
}

interface IssuedCode {
  account: GoogleAccount;
  redirectUri: string;
  challenge: string | null;
  scope: string;
  expires: number;
  used: boolean;
}

const oauthError = (error: string, description: string) => ({ error, error_description: description });

const badRequest = (message: string) => ({
  error: {
    code: 400,
    message,
    errors: [{ message, domain: "global", reason: "invalidArgument" }],
    status: "INVALID_ARGUMENT",
  },
});

/** The top-level headers of an RFC 5322 message, unfolded. */
function mimeHeaders(mime: string): Record<string, string> {
  const head = mime.split(/\r?\n\r?\n/)[0] ?? "";
  const headers: Record<string, string> = {};
  for (const line of head.replace(/\r?\n[ \t]+/g, " ").split(/\r?\n/)) {
    const colon = line.indexOf(":");
    if (colon > 0) {
      headers[line.slice(0, colon)] = line.slice(colon + 1).trim();
    }
  }
  return headers;
}

/**
 * A queued sending fault as Gmail answers it (developers.google.com/gmail/api/guides/handle-errors):
 * the retry time of a sending or rate limit is only in the message, never in a Retry-After header.
 */
function sendFault(fault: Fault): { status: number; error: Record<string, unknown> } | undefined {
  const gmailError = (code: number, message: string, reason: string, domain = "usageLimits") => ({
    status: code,
    error: {
      code,
      message,
      errors: [{ message, domain, reason }],
      status: code === 429 ? "RESOURCE_EXHAUSTED" : "PERMISSION_DENIED",
    },
  });
  const inMinutes = (minutes: number) => new Date(Date.now() + minutes * 60_000).toISOString();
  switch (fault) {
    case "sending_limit":
      return gmailError(
        429,
        `User-rate limit exceeded.  Retry after ${inMinutes(180)} (Mail sending)`,
        "rateLimitExceeded",
      );
    case "daily_quota":
      return gmailError(429, "Daily user sending quota exceeded.", "dailyLimitExceeded");
    case "rate_limited":
      return gmailError(429, `User-rate limit exceeded.  Retry after ${inMinutes(2)}`, "rateLimitExceeded");
    case "user_rate_limit":
      return gmailError(403, "User Rate Limit Exceeded", "userRateLimitExceeded");
    case "concurrent":
      return gmailError(429, "Too many concurrent requests for user.", "rateLimitExceeded");
    case "project_daily_limit":
      return gmailError(403, "Daily Limit Exceeded", "dailyLimitExceeded");
    default:
      return undefined;
  }
}

/**
 * The stand-in server: the OAuth endpoints, Google's signing keys, and every account's API. It is
 * itself the primary account (the one the environment shortcut, `credentials()`, points at).
 */
export class StandInGoogle extends GoogleAccount {
  private readonly signing = generateKeyPairSync("rsa", { modulusLength: 2048 });
  readonly keyId = randomUUID().replaceAll("-", "");
  private server: Server | undefined;
  readonly accounts: GoogleAccount[] = [this];
  private readonly codes = new Map<string, IssuedCode>();
  /** Redirect URIs registered on the OAuth client (Google refuses any other: redirect_uri_mismatch). */
  readonly redirectUris = new Set<string>();
  /** Who consents next, whether they refuse, and which scopes they untick. */
  consentAs: GoogleAccount | undefined;
  consentDenied = false;
  unticked: string[] = [];
  /** The environment shortcut's refresh token (valid from the start). */
  readonly refreshToken: string;

  constructor(
    readonly clientId = "stand-in-client.apps.googleusercontent.com",
    readonly clientSecret = "stand-in-secret",
  ) {
    super();
    this.refreshToken = this.issueRefreshToken();
  }

  /** Another Google account on the same server. */
  addAccount(mailbox = `owner-${randomUUID().slice(0, 8)}@stand-in-google.example`): GoogleAccount {
    const account = new GoogleAccount(mailbox);
    this.accounts.push(account);
    return account;
  }

  /** An OIDC token as a push subscription sends it (claims can be overridden to test refusals). */
  async signPushToken(
    claims: Record<string, unknown>,
    options: { expiresInSeconds?: number; key?: "own" | "other" } = {},
  ) {
    const key =
      options.key === "other"
        ? generateKeyPairSync("rsa", { modulusLength: 2048 }).privateKey
        : this.signing.privateKey;
    const now = Math.floor(Date.now() / 1000);
    return new SignJWT({ email_verified: true, ...claims })
      .setProtectedHeader({ alg: "RS256", kid: this.keyId, typ: "JWT" })
      .setIssuer("https://accounts.google.com")
      .setIssuedAt(now - 5)
      .setExpirationTime(now + (options.expiresInSeconds ?? 3600))
      .sign(key);
  }

  private root = "";

  async start(): Promise<string> {
    this.server = createServer((req, res) => void this.handle(req, res));
    await new Promise<void>((resolve) => this.server?.listen(0, "127.0.0.1", resolve));
    this.root = `http://127.0.0.1:${(this.server.address() as { port: number }).port}`;
    return this.root;
  }

  /**
   * The environment shortcut: this (primary) account configured in the environment as the Google
   * account of one workspace, on top of the OAuth client's configuration.
   */
  credentials(workspaceId: string): Record<string, string> {
    return {
      ...this.oauthEnv(),
      GMAIL_SENDER: this.mailbox,
      GMAIL_WORKSPACE_ID: workspaceId,
      GMAIL_OAUTH_REFRESH_TOKEN: this.refreshToken,
    };
  }

  async close(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise<void>((resolve) => this.server?.close(() => resolve()));
  }

  /** The configuration of the OAuth client that workspaces connect their accounts with. */
  oauthEnv(): Record<string, string> {
    return {
      GOOGLE_OAUTH_CLIENT_ID: this.clientId,
      GOOGLE_OAUTH_CLIENT_SECRET: this.clientSecret,
      GOOGLE_API_ROOT_URL: this.root,
      GOOGLE_OAUTH_TOKEN_URL: `${this.root}/token`,
      GOOGLE_OAUTH_AUTHORIZE_URL: `${this.root}/o/oauth2/v2/auth`,
      GOOGLE_OAUTH_REVOKE_URL: `${this.root}/revoke`,
      GOOGLE_OIDC_CERTS_URL: `${this.root}/oauth2/v1/certs`,
    };
  }

  private async idToken(account: GoogleAccount): Promise<string> {
    const now = Math.floor(Date.now() / 1000);
    return new SignJWT({ email: account.mailbox, email_verified: true, azp: this.clientId })
      .setProtectedHeader({ alg: "RS256", kid: this.keyId, typ: "JWT" })
      .setIssuer("https://accounts.google.com")
      .setAudience(this.clientId)
      .setSubject(account.sub)
      .setIssuedAt(now)
      .setExpirationTime(now + 3600)
      .sign(this.signing.privateKey);
  }

  /** The consent screen: the account consents (or refuses) at once and the browser is redirected. */
  private authorize(url: URL, res: ServerResponse, reply: (status: number, data: unknown) => void) {
    const params = url.searchParams;
    const redirectUri = params.get("redirect_uri") ?? "";
    if (params.get("client_id") !== this.clientId) {
      reply(401, oauthError("invalid_client", "The OAuth client was not found."));
      return;
    }
    if (!this.redirectUris.has(redirectUri)) {
      reply(400, oauthError("redirect_uri_mismatch", "The redirect URI is not registered for this client."));
      return;
    }
    const target = new URL(redirectUri);
    const state = params.get("state");
    if (state !== null) {
      target.searchParams.set("state", state);
    }
    const hint = params.get("login_hint");
    const account =
      this.accounts.find((candidate) => candidate.mailbox === hint) ??
      this.consentAs ??
      (this as GoogleAccount);
    if (this.consentDenied || params.get("response_type") !== "code") {
      target.searchParams.set("error", this.consentDenied ? "access_denied" : "unsupported_response_type");
    } else {
      const requested = (params.get("scope") ?? "").split(" ").filter(Boolean);
      const scope = requested.filter((s) => !this.unticked.includes(s)).join(" ");
      const code = `4/${randomBytes(24).toString("base64url")}`;
      const method = params.get("code_challenge_method");
      this.codes.set(code, {
        account,
        redirectUri,
        challenge: method === "S256" ? params.get("code_challenge") : null,
        scope,
        expires: Date.now() + 10 * 60_000,
        used: false,
      });
      target.searchParams.set("code", code);
      target.searchParams.set("scope", scope);
    }
    res.writeHead(302, { location: target.toString() });
    res.end();
  }

  private async token(form: URLSearchParams, reply: (status: number, data: unknown) => void) {
    if (form.get("client_id") !== this.clientId || form.get("client_secret") !== this.clientSecret) {
      reply(401, oauthError("invalid_client", "Unauthorized"));
      return;
    }
    const grant = form.get("grant_type");
    if (grant === "authorization_code") {
      const issued = this.codes.get(form.get("code") ?? "");
      const verifier = form.get("code_verifier") ?? "";
      const challengeOk =
        !issued?.challenge || createHash("sha256").update(verifier).digest("base64url") === issued.challenge;
      if (
        !issued ||
        issued.used ||
        issued.expires < Date.now() ||
        issued.redirectUri !== form.get("redirect_uri") ||
        !challengeOk
      ) {
        if (issued) {
          issued.used = true;
        }
        reply(400, oauthError("invalid_grant", "Malformed auth code."));
        return;
      }
      issued.used = true;
      reply(200, {
        access_token: issued.account.issueAccessToken(),
        expires_in: 3599,
        refresh_token: issued.account.issueRefreshToken(),
        scope: issued.scope,
        token_type: "Bearer",
        id_token: await this.idToken(issued.account),
      });
      return;
    }
    if (grant === "refresh_token") {
      const account = this.accounts.find((candidate) =>
        candidate.refreshTokens.has(form.get("refresh_token") ?? ""),
      );
      if (!account) {
        reply(400, oauthError("invalid_grant", "Token has been expired or revoked."));
        return;
      }
      reply(200, {
        access_token: account.issueAccessToken(),
        expires_in: 3599,
        token_type: "Bearer",
        scope: "https://www.googleapis.com/auth/gmail.send",
      });
      return;
    }
    reply(400, oauthError("unsupported_grant_type", `Invalid grant_type: ${grant ?? ""}`));
  }

  private revoke(token: string, reply: (status: number, data: unknown) => void) {
    const account = this.accounts.find(
      (candidate) => candidate.refreshTokens.has(token) || candidate.accessTokens.has(token),
    );
    if (!account) {
      reply(400, oauthError("invalid_token", "Token expired or revoked"));
      return;
    }
    // Revoking either token revokes the grant: every token of the account for this client.
    account.revokeAll();
    reply(200, {});
  }

  private async handle(req: IncomingMessage, res: ServerResponse) {
    const chunks: Buffer[] = [];
    for await (const chunk of req) {
      chunks.push(chunk as Buffer);
    }
    const body = Buffer.concat(chunks).toString("utf8");
    const url = new URL(req.url ?? "/", "http://stand-in");
    const reply = (status: number, data: unknown, headers: Record<string, string> = {}) => {
      res.writeHead(status, { "content-type": "application/json", ...headers });
      res.end(JSON.stringify(data));
    };
    if (req.method === "GET" && url.pathname === "/o/oauth2/v2/auth") {
      this.authorize(url, res, reply);
      return;
    }
    if (req.method === "POST" && url.pathname === "/token") {
      await this.token(new URLSearchParams(body), reply);
      return;
    }
    if (req.method === "POST" && url.pathname === "/revoke") {
      this.revoke(url.searchParams.get("token") ?? new URLSearchParams(body).get("token") ?? "", reply);
      return;
    }
    if (req.method === "GET" && url.pathname === "/oauth2/v1/certs") {
      const pem = this.signing.publicKey.export({ type: "spki", format: "pem" }).toString();
      reply(200, { [this.keyId]: pem }, { "cache-control": "public, max-age=3600" });
      return;
    }
    const bearer = (req.headers.authorization ?? "").replace(/^Bearer\s+/i, "");
    const account = this.accounts.find((candidate) => candidate.accessTokens.has(bearer));
    if (!account) {
      reply(401, {
        error: {
          code: 401,
          message: "Request had invalid authentication credentials.",
          status: "UNAUTHENTICATED",
        },
      });
      return;
    }
    account.handleApi(req, res, url, body, reply);
  }
}

/**
 * Connects a workspace to one of the stand-in's accounts the way a person would: the backend's
 * connect endpoint (with the member's session), the consent screen, and the browser following
 * Google's redirect back to the callback. `app` reaches the backend (a dev server's fetch, or a
 * function's handler). Returns where the callback sent the browser.
 */
export async function connectThroughConsent(options: {
  app: (path: string, init?: RequestInit) => Promise<Response>;
  appUrl: string;
  google: StandInGoogle;
  account: GoogleAccount;
  session: string;
  workspaceId: string;
}): Promise<URL> {
  const { app, google, account } = options;
  google.redirectUris.add(new URL("/api/google/callback", options.appUrl).toString());
  const started = await app(`/api/google/connect?workspace_id=${options.workspaceId}`, {
    headers: { authorization: `Bearer ${options.session}`, accept: "application/json" },
  });
  const payload = (await started.json()) as { data?: { url: string }; error?: unknown };
  if (!started.ok || !payload.data) {
    throw new Error(`connect refused: ${started.status} ${JSON.stringify(payload)}`);
  }
  const consent = new URL(payload.data.url);
  consent.searchParams.set("login_hint", account.mailbox);
  const consented = await fetch(consent, { redirect: "manual" });
  const back = new URL(consented.headers.get("location") ?? "");
  const landed = await app(`${back.pathname}${back.search}`, { redirect: "manual" });
  const location = landed.headers.get("location");
  if (landed.status !== 302 || !location) {
    throw new Error(`callback answered ${landed.status}: ${await landed.text()}`);
  }
  return new URL(location);
}
