import { createHmac, timingSafeEqual } from "node:crypto";
import { z } from "zod";
import { getConfig } from "../config";
import { ApiError } from "../http/errors";
import { json, type RequestContext } from "../http/handler";
import { appUrl } from "../queue";
import { suppress } from "./suppression";

/**
 * Unsubscribe links: the token is the workspace (the sender), the member, the lead and the address,
 * signed with HMAC-SHA256 under UNSUBSCRIBE_SECRET. It never expires — Gmail and RFC 8058 expect a
 * link in an old email to keep working — and it names one address of one sender, so it can only ever
 * suppress that. Links sent before workspaces existed name no workspace: theirs is the member's
 * personal one, whose id is the member's.
 */
const claims = z.object({ w: z.uuid().optional(), u: z.uuid(), l: z.uuid().nullable(), e: z.email() });
export type UnsubscribeClaims = { workspaceId: string; userId: string; leadId: string | null; email: string };

const sign = (payload: string) =>
  createHmac("sha256", getConfig().UNSUBSCRIBE_SECRET).update(`unsubscribe.v1.${payload}`).digest();

export function unsubscribeToken(claim: UnsubscribeClaims): string {
  const payload = Buffer.from(
    JSON.stringify({ w: claim.workspaceId, u: claim.userId, l: claim.leadId, e: claim.email.toLowerCase() }),
  ).toString("base64url");
  return `${payload}.${sign(payload).toString("base64url")}`;
}

/** The claims of a valid token, or undefined for anything forged, altered or malformed. */
export function readUnsubscribeToken(token: string): UnsubscribeClaims | undefined {
  const [payload, signature, extra] = token.split(".");
  if (!payload || !signature || extra !== undefined) {
    return undefined;
  }
  const expected = sign(payload);
  const given = Buffer.from(signature, "base64url");
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
    return undefined;
  }
  try {
    const parsed = claims.parse(JSON.parse(Buffer.from(payload, "base64url").toString("utf8")));
    return { workspaceId: parsed.w ?? parsed.u, userId: parsed.u, leadId: parsed.l, email: parsed.e };
  } catch {
    return undefined;
  }
}

export const unsubscribePath = "/api/unsubscribe";

/** The HTTPS one-click URL for `List-Unsubscribe` and the link in the footer. */
export function unsubscribeUrl(claim: UnsubscribeClaims): string {
  return `${appUrl(unsubscribePath)}?token=${unsubscribeToken(claim)}`;
}

const escapeHtml = (value: string) => value.replace(/[&<>"']/g, (char) => `&#${char.charCodeAt(0)};`);

function page(status: number, title: string, message: string): Response {
  const html = `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1"><meta name="robots" content="noindex"><title>${escapeHtml(title)}</title><style>body{font:16px/1.5 system-ui,sans-serif;max-width:32rem;margin:4rem auto;padding:0 1rem;color:#222}</style></head><body><h1>${escapeHtml(title)}</h1><p>${escapeHtml(message)}</p></body></html>`;
  return new Response(html, {
    status,
    headers: {
      "content-type": "text/html; charset=utf-8",
      "cache-control": "no-store",
      "content-security-policy": "default-src 'none'; style-src 'unsafe-inline'",
      "referrer-policy": "no-referrer",
    },
  });
}

/** `GET /api/unsubscribe?token=…`: the link in the email's footer; unsubscribes at once and says so. */
export async function unsubscribeFromLink(ctx: RequestContext): Promise<Response> {
  const claim = readUnsubscribeToken(ctx.url.searchParams.get("token") ?? "");
  if (!claim) {
    return page(
      400,
      "This link is not valid",
      "The unsubscribe link is incomplete or was altered. Use the link from the email itself.",
    );
  }
  await suppress(claim, claim.email, "unsubscribed", "unsubscribe link", claim.leadId);
  return page(200, "You are unsubscribed", `${claim.email} will receive no more emails from this sender.`);
}

/** `POST /api/unsubscribe?token=…` with `List-Unsubscribe=One-Click` (RFC 8058), as mail providers send it. */
export async function unsubscribeOneClick(ctx: RequestContext): Promise<Response> {
  const claim = readUnsubscribeToken(ctx.url.searchParams.get("token") ?? "");
  if (!claim) {
    throw new ApiError("bad_request", "The unsubscribe token is missing, incomplete or altered");
  }
  const body = new URLSearchParams(await ctx.text());
  if (body.get("List-Unsubscribe") !== "One-Click") {
    throw new ApiError("bad_request", "The body must be List-Unsubscribe=One-Click (RFC 8058)");
  }
  const { added } = await suppress(claim, claim.email, "unsubscribed", "one-click", claim.leadId);
  return json({ success: true, data: { unsubscribed: true, already: !added } });
}
