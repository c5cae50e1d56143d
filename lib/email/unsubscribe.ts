import { createHmac, timingSafeEqual } from "node:crypto";
import { z } from "zod";
import { getConfig } from "../config";
import { appUrl } from "../queue";

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
