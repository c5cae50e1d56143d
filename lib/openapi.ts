import type { PgTable, TableConfig } from "drizzle-orm/pg-core";
import { createSelectSchema } from "drizzle-zod";
import { z } from "zod";
import { createDocument, type ZodOpenApiOperationObject, type ZodOpenApiPathsObject } from "zod-openapi";
import { errorEnvelope, okEnvelope } from "./http/responses";
import { resources } from "./queries/resources";

/**
 * The OpenAPI 3.1 document, generated from the same zod schemas that validate requests and that
 * type the handlers' answers (`reply(schema, body)`, lib/http/responses.ts), and from the tables the
 * rows come from. A response shape is imported from beside its handler, never written here again.
 */
const errorResponse = (description: string) => ({
  description,
  content: { "application/json": { schema: errorEnvelope } },
});

const userId = z.uuid().meta({ description: "Must be the session's own user id" });
const timestamp = z.iso.datetime({ offset: true });

function rowSchema(table: PgTable, id: string) {
  const schema = createSelectSchema(table as PgTable<TableConfig>) as unknown as z.ZodObject;
  const timestamps = Object.entries(schema.shape)
    .filter(([name]) => name.endsWith("_at") || name === "start_time")
    .map(([name, field]) => [name, field.safeParse(null).success ? timestamp.nullable() : timestamp]);
  return schema.extend(Object.fromEntries(timestamps)).meta({ id });
}

function listOperation(resource: (typeof resources)[number]): ZodOpenApiOperationObject {
  return {
    operationId: `list_${resource.name}`,
    summary: resource.summary,
    tags: ["Queries"],
    security: [{ supabaseSession: [] }],
    requestParams: { path: z.object({ user_id: userId }), query: resource.query },
    responses: {
      200: {
        description: "One page of rows",
        content: {
          "application/json": {
            schema: z.object({
              success: z.literal(true),
              data: z.array(rowSchema(resource.table, resource.rowId)),
              next_cursor: z.string().nullable().meta({ description: "Pass as `cursor` for the next page" }),
            }),
          },
        },
      },
      400: errorResponse("A query parameter or the cursor is invalid"),
      401: errorResponse("No valid Supabase session"),
      403: errorResponse("The session belongs to another user, or it is not a member of `workspace_id`"),
      503: errorResponse("The database is unavailable"),
    },
  };
}

const ok = okEnvelope;
const json = (description: string, schema: z.ZodType) => ({
  description,
  content: { "application/json": { schema } },
});
const session = [{ supabaseSession: [] }];

/** Workspaces, invitations and Google connections, from the schemas their handlers use. */
async function workspaceOperations(): Promise<ZodOpenApiPathsObject> {
  const manage = await import("./workspaces/manage");
  const connections = await import("./workspaces/connections");
  const mailboxAdmin = await import("./email/mailbox-admin");
  const { workspacePath, memberPath, connectionPath } = await import("./workspaces/api");
  const refused = {
    401: errorResponse("No valid Supabase session"),
    403: errorResponse("Not a member of the workspace, or the role does not allow it"),
  };
  return {
    "/api/workspaces": {
      get: {
        operationId: "list_workspaces",
        summary: "The caller's workspaces, with their role in each",
        tags: ["Workspaces"],
        security: session,
        responses: { 200: json("The workspaces", ok(z.array(manage.workspaceView))), 401: refused[401] },
      },
      post: {
        operationId: "create_workspace",
        summary: "A new (shared) workspace; the caller is its owner",
        tags: ["Workspaces"],
        security: session,
        requestBody: { content: { "application/json": { schema: manage.createWorkspaceBody } } },
        responses: {
          201: json("The workspace", ok(manage.workspaceView)),
          400: errorResponse("A setting is invalid"),
          401: refused[401],
        },
      },
    },
    "/api/workspaces/{workspace_id}": {
      get: {
        operationId: "get_workspace",
        summary: "One of the caller's workspaces",
        tags: ["Workspaces"],
        security: session,
        requestParams: { path: workspacePath },
        responses: { 200: json("The workspace", ok(manage.workspaceView)), ...refused },
      },
      patch: {
        operationId: "update_workspace",
        summary:
          "Settings: name, postal address (for email footers), time zone, working hours and days (owners and admins)",
        tags: ["Workspaces"],
        security: session,
        requestParams: { path: workspacePath },
        requestBody: { content: { "application/json": { schema: manage.updateWorkspaceBody } } },
        responses: {
          200: json("The workspace", ok(manage.workspaceView)),
          400: errorResponse("A setting is invalid"),
          ...refused,
        },
      },
    },
    "/api/workspaces/{workspace_id}/invitations": {
      post: {
        operationId: "invite_member",
        summary:
          "Invites an address (owners and admins): a single-use token, stored hashed, sent from the workspace's mailbox (or the outbox)",
        tags: ["Workspaces"],
        security: session,
        requestParams: { path: workspacePath },
        requestBody: { content: { "application/json": { schema: manage.inviteBody } } },
        responses: {
          201: json("The invitation (never its token)", ok(manage.invitationView)),
          409: errorResponse("The address is already a member"),
          ...refused,
        },
      },
    },
    "/api/invitations/accept": {
      post: {
        operationId: "accept_invitation",
        summary: "Joins the workspace with the invitation's token, signed in as the invited address",
        tags: ["Workspaces"],
        security: session,
        requestBody: { content: { "application/json": { schema: manage.acceptBody } } },
        responses: {
          200: json("The workspace joined", ok(manage.workspaceView)),
          403: errorResponse("The session's address is not the invited one"),
          404: errorResponse("No such open invitation (replaced or revoked)"),
          409: errorResponse("Already accepted"),
          422: errorResponse("Expired"),
        },
      },
    },
    "/api/workspaces/{workspace_id}/members/{user_id}": {
      patch: {
        operationId: "change_member_role",
        summary: "Changes a role (owners any; admins between member and admin); the last owner stays owner",
        tags: ["Workspaces"],
        security: session,
        requestParams: { path: memberPath },
        requestBody: { content: { "application/json": { schema: manage.roleBody } } },
        responses: {
          200: json("The membership", ok(manage.memberView)),
          404: errorResponse("No such member"),
          409: errorResponse("The last owner cannot be demoted"),
          ...refused,
        },
      },
      delete: {
        operationId: "remove_member",
        summary:
          "Removes a member (owners anyone, admins members), or leaves (one's own id); the last owner cannot",
        tags: ["Workspaces"],
        security: session,
        requestParams: { path: memberPath },
        responses: {
          200: json("Removed", ok(manage.memberRemoved)),
          404: errorResponse("No such member"),
          409: errorResponse("The last owner cannot leave"),
          ...refused,
        },
      },
    },
    "/api/workspaces/{workspace_id}/mailboxes": {
      get: {
        operationId: "list_mailboxes",
        summary:
          "The workspace's sending mailboxes: caps, whether and why each is paused (Gmail's limit, bounce protection), sends in the last day and the 30-day bounce rate",
        tags: ["Workspaces"],
        security: session,
        requestParams: { path: mailboxAdmin.workspacePath },
        responses: {
          200: json("The mailboxes", ok(z.array(mailboxAdmin.mailboxView))),
          ...refused,
        },
      },
    },
    "/api/workspaces/{workspace_id}/mailboxes/{mailbox_id}": {
      patch: {
        operationId: "update_mailbox",
        summary:
          "A mailbox's caps (daily, hourly, least gap) and ramp (start, step; restart_ramp starts it again today), owners and admins",
        tags: ["Workspaces"],
        security: session,
        requestParams: { path: mailboxAdmin.mailboxPath },
        requestBody: { content: { "application/json": { schema: mailboxAdmin.mailboxSettings } } },
        responses: {
          200: json("The mailbox", ok(mailboxAdmin.mailboxView)),
          404: errorResponse("No such mailbox in this workspace"),
          ...refused,
        },
      },
    },
    "/api/workspaces/{workspace_id}/mailboxes/{mailbox_id}/pause": {
      post: {
        operationId: "pause_mailbox",
        summary:
          "Pauses a mailbox with the reason, until a time or until resumed (owners and admins); its mail waits",
        tags: ["Workspaces"],
        security: session,
        requestParams: { path: mailboxAdmin.mailboxPath },
        requestBody: { content: { "application/json": { schema: mailboxAdmin.pauseBody } } },
        responses: {
          200: json("The mailbox", ok(mailboxAdmin.mailboxView)),
          404: errorResponse("No such mailbox in this workspace"),
          ...refused,
        },
      },
    },
    "/api/workspaces/{workspace_id}/campaigns/{campaign_id}/mailboxes": {
      put: {
        operationId: "set_campaign_mailboxes",
        summary:
          "The mailboxes a campaign's first emails rotate between (owners and admins); empty: all of the workspace's. A follow-up always goes from its thread's mailbox",
        tags: ["Workspaces"],
        security: session,
        requestParams: { path: mailboxAdmin.campaignPath },
        requestBody: { content: { "application/json": { schema: mailboxAdmin.campaignMailboxesBody } } },
        responses: {
          200: json("The campaign's mailbox set", ok(mailboxAdmin.campaignMailboxes)),
          404: errorResponse("No such campaign in this workspace"),
          ...refused,
        },
      },
    },
    "/api/workspaces/{workspace_id}/mailboxes/{mailbox_id}/resume": {
      post: {
        operationId: "resume_mailbox",
        summary: "Ends a mailbox's pause (owners and admins); its bounce rate counts again from now",
        tags: ["Workspaces"],
        security: session,
        requestParams: { path: mailboxAdmin.mailboxPath },
        responses: {
          200: json("The mailbox", ok(mailboxAdmin.mailboxView)),
          404: errorResponse("No such mailbox in this workspace"),
          ...refused,
        },
      },
    },
    "/api/workspaces/{workspace_id}/campaigns/{campaign_id}/resume": {
      post: {
        operationId: "resume_campaign",
        summary:
          "Sets a paused campaign (bounce protection pauses one at 2 % bounces) going again (owners and admins); its bounce rate counts again from now",
        tags: ["Workspaces"],
        security: session,
        requestParams: { path: mailboxAdmin.campaignPath },
        responses: {
          200: json("The campaign", ok(mailboxAdmin.campaignResumed)),
          404: errorResponse("No such campaign in this workspace"),
          409: errorResponse("The campaign is not paused"),
          ...refused,
        },
      },
    },
    "/api/google/connect": {
      get: {
        operationId: "connect_google",
        summary:
          "Google's consent screen for an owner or admin (authorization code with PKCE, offline access): 302, or `{ url }` with Accept: application/json",
        tags: ["Google"],
        security: session,
        requestParams: { query: connections.connectQuery },
        responses: {
          200: json("The consent screen's URL, to navigate to", ok(connections.consentUrl)),
          302: { description: "Redirect to the consent screen" },
          ...refused,
          503: errorResponse("No Google OAuth client is configured"),
        },
      },
    },
    "/api/google/callback": {
      get: {
        operationId: "google_callback",
        summary:
          "Google's redirect back: the state is verified and used once, the code exchanged with its PKCE verifier, the refresh token sealed; the browser goes on to the frontend",
        tags: ["Google"],
        requestParams: { query: connections.callbackQuery },
        responses: {
          302: { description: "To the frontend, with `google=connected|refused|missing_scopes`" },
          400: errorResponse("A state that is forged, used or expired, or a code Google refuses"),
          409: errorResponse("The account is connected to another workspace"),
        },
      },
    },
    "/api/google/connections": {
      get: {
        operationId: "list_google_connections",
        summary: "The workspace's connected Google accounts and their status (never a token)",
        tags: ["Google"],
        security: session,
        requestParams: { query: z.object({ workspace_id: z.uuid().optional() }) },
        responses: { 200: json("The connections", ok(z.array(connections.connectionView))), ...refused },
      },
    },
    "/api/google/connections/{connection_id}": {
      delete: {
        operationId: "disconnect_google",
        summary:
          "Disconnects an account (owners and admins): its calendar channel and Gmail watch stopped, the token revoked at Google, queued mail cancelled",
        tags: ["Google"],
        security: session,
        requestParams: { path: connectionPath },
        responses: {
          200: json("The connection, now disconnected", ok(connections.connectionView)),
          404: errorResponse("No such connection"),
          409: errorResponse("The account is configured in the environment"),
          ...refused,
          503: errorResponse("Google could not be reached to revoke the token; try again"),
        },
      },
    },
  };
}

async function agentOperations(): Promise<ZodOpenApiPathsObject> {
  const { taskAccepted, taskCompleted } = await import("./agents/responses");
  const { hasAgent, loadAgent, modelOptional, titles } = await import("./agents/registry");
  const { agentNames } = await import("./db/schema");
  const paths: ZodOpenApiPathsObject = {};
  for (const name of agentNames.filter(hasAgent)) {
    const agent = await loadAgent(name);
    paths[`/api/agents/${name}`] = {
      post: {
        operationId: `run_${name.replaceAll("-", "_")}`,
        summary: `${titles[name]}: ${agent.summary}`,
        tags: ["Agents"],
        security: [{ supabaseSession: [] }],
        requestParams: {
          header: z.object({
            "idempotency-key": z.string().optional().meta({
              description: "Same key and body: the stored result; still running: 409; other body: 422",
            }),
          }),
        },
        requestBody: { content: { "application/json": { schema: agent.input } } },
        responses: {
          ...(agent.kind === "fan-out"
            ? {}
            : {
                200: {
                  description: "The task and the agent's result (`result.response` is the text answer)",
                  content: { "application/json": { schema: taskCompleted } },
                },
              }),
          202: {
            description:
              agent.kind === "fan-out"
                ? "The task, processing in the background (a retry with the same key answers the same task); progress in metadata, the result in output, through Realtime on agent_tasks"
                : "`async: true`: the queued task; follow it through Realtime on agent_tasks",
            content: { "application/json": { schema: taskAccepted } },
          },
          400: errorResponse("The body or Idempotency-Key is invalid"),
          401: errorResponse("No valid Supabase session or agent token"),
          403: errorResponse("user_id is not the caller's, or the caller is not a member of workspace_id"),
          409: errorResponse("A request with this Idempotency-Key is still running"),
          422: errorResponse("The Idempotency-Key was used with another body"),
          413: errorResponse(
            "context over its caps (details.field, and limit_bytes or limit_tokens), or the prompt as built too large",
          ),
          429: errorResponse(
            "rate_limited, or budget_exceeded: a daily model budget (workspace or member, tokens or USD; details.scope, unit, limit, resets_at) does not cover the call; see Retry-After",
          ),
          502: errorResponse("The model's output stayed invalid after one repair"),
          503: errorResponse(
            modelOptional.has(name)
              ? "The database or the queue is unavailable (without a model, leads are scored by the rules alone)"
              : "No model provider configured, or none could answer",
          ),
        },
      },
    };
  }
  const { taskEvent } = await import("./webhooks/task-events");
  const { callbackPayload } = await import("./queue");
  const { callbackAnswer, pushAnswer, taskWebhookAnswer } = await import("./webhooks/responses");
  paths["/webhook/task"] = {
    post: {
      operationId: "task_event",
      summary: "Task events signed with Standard Webhooks (and QStash callbacks of background runs)",
      tags: ["Webhooks"],
      requestParams: {
        header: z.object({
          "webhook-id": z.string(),
          "webhook-timestamp": z
            .string()
            .meta({ description: "Unix seconds; five minutes of tolerance either way" }),
          "webhook-signature": z.string().meta({ description: "Space-separated `v1,<base64 HMAC-SHA256>`" }),
        }),
      },
      requestBody: { content: { "application/json": { schema: taskEvent } } },
      responses: {
        200: json(
          "Applied, ignored, a duplicate of an event already applied, or refused (a queued task whose input its agent's schema rejects fails for good)",
          taskWebhookAnswer,
        ),
        400: errorResponse("A verified event of an unknown shape"),
        401: errorResponse("Missing or invalid signature, or a timestamp outside the tolerance"),
        409: errorResponse("The same event is being processed; retry later"),
      },
    },
  };
  const tokenQuery = z.object({
    token: z.string().meta({ description: "The signed token from the email's unsubscribe link" }),
  });
  const { oneClickForm, oneClickResult } = await import("./email/unsubscribe-http");
  paths["/api/unsubscribe"] = {
    get: {
      operationId: "unsubscribe_link",
      summary:
        "The unsubscribe link in every email: a confirmation page whose button POSTs; a GET changes nothing (link scanners fetch links)",
      tags: ["Email"],
      requestParams: { query: tokenQuery },
      responses: {
        200: {
          description: "HTML: the address and an Unsubscribe button",
          content: { "text/html": { schema: z.string() } },
        },
        400: { description: "HTML: the link is not valid", content: { "text/html": { schema: z.string() } } },
      },
    },
    post: {
      operationId: "unsubscribe_one_click",
      summary:
        "RFC 8058 one-click unsubscribe, as mail providers send it, and the confirmation page's button",
      tags: ["Email"],
      requestParams: { query: tokenQuery },
      requestBody: {
        content: {
          "application/x-www-form-urlencoded": { schema: oneClickForm },
          "multipart/form-data": { schema: oneClickForm },
        },
      },
      responses: {
        200: {
          description: "Unsubscribed. JSON for a one-click POST; HTML for the page's button (`from=page`)",
          content: {
            "application/json": {
              schema: z.object({ success: z.literal(true), data: oneClickResult }),
            },
            "text/html": { schema: z.string() },
          },
        },
        400: errorResponse("Missing, altered or malformed token, or not a one-click body"),
        415: errorResponse("Neither a urlencoded nor a multipart form"),
      },
    },
  };
  const { pushBody } = await import("./google/push");
  paths["/webhook/email"] = {
    post: {
      operationId: "gmail_push",
      summary: "Gmail changes pushed by Pub/Sub: the OIDC token is verified, each message applied once",
      tags: ["Webhooks"],
      requestParams: {
        header: z.object({
          authorization: z.string().meta({
            description:
              "Bearer OIDC token of the push subscription: our audience, our push service account, email_verified",
          }),
        }),
      },
      requestBody: { content: { "application/json": { schema: pushBody } } },
      responses: {
        200: {
          description: "Recorded (the mailbox's history is processed in the background) or a duplicate",
          content: { "application/json": { schema: pushAnswer } },
        },
        400: errorResponse("Not a Pub/Sub push of a Gmail notification"),
        401: errorResponse("Missing or invalid OIDC token, wrong audience or service account"),
        503: errorResponse("Gmail push is not configured"),
      },
    },
  };
  const { calendarPushHeaders } = await import("./webhooks/calendar-events");
  paths["/webhook/calendar"] = {
    post: {
      operationId: "calendar_push",
      summary:
        "Google Calendar push notifications: channel token and ids verified, each message applied once, the calendar synced in the background",
      tags: ["Webhooks"],
      requestParams: { header: calendarPushHeaders },
      responses: {
        200: {
          description:
            "Applied (a sync is queued), acknowledged (`sync`), ignored (a replaced channel) or a duplicate",
          content: { "application/json": { schema: pushAnswer } },
        },
        400: errorResponse("Headers that are not a Calendar notification"),
        401: errorResponse("Missing or forged channel token, or a resource the channel does not watch"),
        404: errorResponse("A channel we did not open"),
      },
    },
  };
  paths["/webhook/scrape"] = {
    post: {
      operationId: "scrape_callback",
      summary:
        "QStash callback and failure callback of the scrape worker: one site's report, applied once to its lead-generation task",
      tags: ["Webhooks"],
      requestParams: {
        header: z.object({
          "upstash-signature": z
            .string()
            .meta({ description: "QStash's JWT over the body, for this URL, with either signing key" }),
        }),
      },
      requestBody: {
        description:
          "QStash's callback; its `body` is the base64 of the scrape worker's answer (ScrapeWorkerAnswer)",
        content: { "application/json": { schema: callbackPayload } },
      },
      responses: {
        200: json("Applied, ignored, or a duplicate of a callback already applied", callbackAnswer),
        400: errorResponse("Not a QStash callback"),
        401: errorResponse("Missing or invalid Upstash-Signature"),
        409: errorResponse("The same callback is being processed; retry later"),
      },
    },
  };
  return paths;
}

export async function buildOpenApiDocument(serverUrl: string) {
  const { healthAnswer } = await import("./health");
  const { scrapeWorkerAnswer } = await import("./scrape/report");
  const paths: ZodOpenApiPathsObject = {
    "/api/health": {
      get: {
        operationId: "health",
        summary: "Database, Redis and queue configuration",
        tags: ["Operations"],
        responses: {
          200: json("Everything is up", healthAnswer),
          503: errorResponse("Something is down; `error.message` names it"),
        },
      },
    },
  };
  for (const resource of resources) {
    paths[`/api/${resource.name}/{user_id}`] = { get: listOperation(resource) };
  }
  Object.assign(paths, await agentOperations());
  Object.assign(paths, await workspaceOperations());
  return createDocument({
    openapi: "3.1.0",
    info: {
      title: "AI Agent Team API",
      version: "0.1.0",
      description:
        "Backend of a seven-agent team for a small business. Authenticate with a Supabase session: " +
        "`Authorization: Bearer <access token>`. Errors share one envelope; list endpoints use keyset pagination.",
    },
    servers: [{ url: serverUrl }],
    components: {
      // The scrape worker is called by QStash alone (no operation here), but its answer is what
      // /webhook/scrape's callback carries, base64 in `body`.
      schemas: { ScrapeWorkerAnswer: scrapeWorkerAnswer },
      securitySchemes: {
        supabaseSession: {
          type: "http",
          scheme: "bearer",
          bearerFormat: "JWT",
          description: "Supabase access token",
        },
      },
    },
    paths,
  });
}
