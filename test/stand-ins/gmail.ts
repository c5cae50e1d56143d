import { randomUUID } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";

/**
 * A stand-in for the Gmail API and Google's OAuth token endpoint, speaking their wire format:
 * `POST /token` (refresh-token grant), `POST /gmail/v1/users/me/messages/send` (`raw` base64url RFC
 * 5322), `GET /gmail/v1/users/me/messages?q=rfc822msgid:…` (Sent search). Faults can be queued:
 * a 429 with Retry-After, the daily sending limit, a 500, or a send that succeeds but whose answer
 * is lost (the connection drops after the message is stored).
 */
export interface SentMessage {
  id: string;
  threadId: string;
  raw: string;
  mime: string;
  messageId: string | undefined;
  to: string | undefined;
  at: number;
}

type Fault = "rate_limited" | "daily_limit" | "server_error" | "lost_answer";

export class StandInGmail {
  readonly sent: SentMessage[] = [];
  readonly searches: string[] = [];
  private faults: Fault[] = [];
  private server: Server | undefined;
  private readonly accessToken = `ya29.${randomUUID()}`;
  constructor(
    readonly clientId = "stand-in-client.apps.googleusercontent.com",
    readonly clientSecret = "stand-in-secret",
    readonly refreshToken = `1//${randomUUID()}`,
  ) {}

  fail(...faults: Fault[]): void {
    this.faults.push(...faults);
  }

  async start(): Promise<string> {
    this.server = createServer((req, res) => void this.handle(req, res));
    await new Promise<void>((resolve) => this.server?.listen(0, "127.0.0.1", resolve));
    return `http://127.0.0.1:${(this.server.address() as { port: number }).port}`;
  }

  async close(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise<void>((resolve) => this.server?.close(() => resolve()));
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
    if (req.method === "POST" && url.pathname === "/token") {
      const form = new URLSearchParams(body);
      if (
        form.get("grant_type") !== "refresh_token" ||
        form.get("refresh_token") !== this.refreshToken ||
        form.get("client_id") !== this.clientId ||
        form.get("client_secret") !== this.clientSecret
      ) {
        reply(400, { error: "invalid_grant", error_description: "Bad Request" });
        return;
      }
      reply(200, {
        access_token: this.accessToken,
        expires_in: 3599,
        token_type: "Bearer",
        scope: "https://www.googleapis.com/auth/gmail.send",
      });
      return;
    }
    if (req.headers.authorization !== `Bearer ${this.accessToken}`) {
      reply(401, {
        error: {
          code: 401,
          message: "Request had invalid authentication credentials.",
          status: "UNAUTHENTICATED",
        },
      });
      return;
    }
    if (req.method === "POST" && url.pathname === "/gmail/v1/users/me/messages/send") {
      const fault = this.faults.shift();
      if (fault === "rate_limited") {
        reply(
          429,
          {
            error: {
              code: 429,
              message: "User-rate limit exceeded.",
              errors: [{ reason: "userRateLimitExceeded", domain: "usageLimits" }],
            },
          },
          { "retry-after": "120" },
        );
        return;
      }
      if (fault === "daily_limit") {
        reply(403, {
          error: {
            code: 403,
            message: "Daily user sending limit exceeded.",
            errors: [{ reason: "dailyLimitExceeded", domain: "usageLimits" }],
          },
        });
        return;
      }
      if (fault === "server_error") {
        reply(500, { error: { code: 500, message: "Backend Error", status: "INTERNAL" } });
        return;
      }
      const { raw, threadId } = JSON.parse(body) as { raw: string; threadId?: string };
      const mime = Buffer.from(raw, "base64url").toString("utf8");
      const message: SentMessage = {
        id: randomUUID().replaceAll("-", "").slice(0, 16),
        threadId: threadId ?? randomUUID().replaceAll("-", "").slice(0, 16),
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
    if (req.method === "GET" && url.pathname === "/gmail/v1/users/me/messages") {
      const q = url.searchParams.get("q") ?? "";
      this.searches.push(q);
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
    reply(404, { error: { code: 404, message: "Requested entity was not found.", status: "NOT_FOUND" } });
  }
}
