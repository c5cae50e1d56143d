/**
 * The handlers behind /api/workspaces, /api/invitations and /api/google: a session is required
 * everywhere but the OAuth callback (Google's redirect of the browser, verified by its state).
 */
import { z } from "zod";
import type { UserHandler } from "../auth/session";
import { json, pathParams, type RequestContext } from "../http/handler";
import { okEnvelope, reply } from "../http/responses";
import {
  callbackQuery,
  connectQuery,
  connectUrl,
  consentUrl,
  disconnect,
  finishConnect,
  listConnections,
} from "./connections";
import {
  acceptBody,
  acceptInvitation,
  changeRole,
  createWorkspace,
  createWorkspaceBody,
  getWorkspace,
  invite,
  inviteBody,
  listWorkspaces,
  memberRemoved,
  removeMember,
  roleBody,
  updateWorkspace,
  updateWorkspaceBody,
} from "./manage";

const ok = (data: unknown, status = 200) => json({ success: true, data }, status);
const removedAnswer = okEnvelope(memberRemoved);
const consentAnswer = okEnvelope(consentUrl);

export const workspacePath = z.object({ workspace_id: z.uuid() });
export const memberPath = z.object({ workspace_id: z.uuid(), user_id: z.uuid() });
export const connectionPath = z.object({ connection_id: z.uuid() });

export const listMine: UserHandler = async (ctx) => ok(await listWorkspaces(ctx.user.id));
export const create: UserHandler = async (ctx) =>
  ok(await createWorkspace(ctx.user.id, await ctx.json(createWorkspaceBody)), 201);
export const show: UserHandler = async (ctx) =>
  ok(await getWorkspace(ctx.user.id, pathParams(ctx, workspacePath).workspace_id));
export const update: UserHandler = async (ctx) =>
  ok(
    await updateWorkspace(
      ctx.user.id,
      pathParams(ctx, workspacePath).workspace_id,
      await ctx.json(updateWorkspaceBody),
    ),
  );
export const inviteMember: UserHandler = async (ctx) =>
  ok(await invite(ctx.user.id, pathParams(ctx, workspacePath).workspace_id, await ctx.json(inviteBody)), 201);
export const accept: UserHandler = async (ctx) =>
  ok(await acceptInvitation(ctx.user, (await ctx.json(acceptBody)).token));
export const setRole: UserHandler = async (ctx) => {
  const path = pathParams(ctx, memberPath);
  return ok(await changeRole(ctx.user.id, path.workspace_id, path.user_id, (await ctx.json(roleBody)).role));
};
export const remove: UserHandler = async (ctx) => {
  const path = pathParams(ctx, memberPath);
  return reply(removedAnswer, {
    success: true,
    data: await removeMember(ctx.user.id, path.workspace_id, path.user_id),
  });
};

/**
 * `GET /api/google/connect`: the consent screen. A browser navigating here is redirected (302); a
 * frontend calling it with `Accept: application/json` gets `{ url }` to navigate to itself.
 */
export const connect: UserHandler = async (ctx) => {
  const url = await connectUrl(ctx.user, ctx.query(connectQuery));
  if ((ctx.request.headers.get("accept") ?? "").includes("application/json")) {
    return reply(consentAnswer, { success: true, data: { url } });
  }
  return new Response(null, { status: 302, headers: { location: url, "cache-control": "no-store" } });
};

/** `GET /api/google/callback`: Google's redirect back; the browser goes on to the frontend. */
export async function callback(ctx: RequestContext): Promise<Response> {
  const location = await finishConnect(ctx.query(callbackQuery));
  return new Response(null, { status: 302, headers: { location, "cache-control": "no-store" } });
}

export const connections: UserHandler = async (ctx) =>
  ok(
    await listConnections(
      ctx.user.id,
      ctx.query(z.object({ workspace_id: z.uuid().optional() })).workspace_id,
    ),
  );
export const disconnectOne: UserHandler = async (ctx) =>
  ok(await disconnect(ctx.user.id, pathParams(ctx, connectionPath).connection_id));
