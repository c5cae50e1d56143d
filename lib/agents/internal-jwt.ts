import { randomUUID } from "node:crypto";
import { decodeProtectedHeader, errors, jwtVerify, SignJWT } from "jose";
import { getConfig } from "../config";
import type { AgentName } from "../db/schema";
import { ApiError } from "../http/errors";
import { getRedis } from "../kv";

/**
 * Tokens one agent presents to call another through its function endpoint: audience = the target
 * agent, subject = the user it acts for, `wid` = the workspace it acts in, at most 60 s of life, and
 * a jti that is accepted once.
 */
const issuer = "ai-agent-team";
const tokenType = "agent+jwt";
const lifetimeSeconds = 60;

const key = () => new TextEncoder().encode(getConfig().INTERNAL_JWT_SECRET);

export interface AgentCaller {
  userId: string;
  workspaceId: string;
  /** The calling agent. */
  from: AgentName;
  parentTaskId: string | undefined;
}

export async function signAgentToken(
  target: AgentName,
  caller: AgentCaller,
  options: { lifetimeSeconds?: number; issuedAt?: number } = {},
): Promise<string> {
  const now = options.issuedAt ?? Math.floor(Date.now() / 1000);
  return new SignJWT({
    from: caller.from,
    wid: caller.workspaceId,
    ...(caller.parentTaskId ? { parent_task_id: caller.parentTaskId } : {}),
  })
    .setProtectedHeader({ alg: "HS256", typ: tokenType })
    .setIssuer(issuer)
    .setAudience(`agent:${target}`)
    .setSubject(caller.userId)
    .setIssuedAt(now)
    .setExpirationTime(now + Math.min(options.lifetimeSeconds ?? lifetimeSeconds, lifetimeSeconds))
    .setJti(randomUUID())
    .sign(key());
}

export function isAgentToken(token: string): boolean {
  try {
    return decodeProtectedHeader(token).typ === tokenType;
  } catch {
    return false;
  }
}

/** Verifies signature, audience, issuer, expiry and age, then burns the jti (a replay is refused). */
export async function verifyAgentToken(token: string, target: AgentName): Promise<AgentCaller> {
  let payload: Awaited<ReturnType<typeof jwtVerify>>["payload"];
  try {
    ({ payload } = await jwtVerify(token, key(), {
      algorithms: ["HS256"],
      issuer,
      audience: `agent:${target}`,
      typ: tokenType,
      maxTokenAge: lifetimeSeconds + 5,
      requiredClaims: ["sub", "wid", "jti", "exp", "iat"],
    }));
  } catch (error) {
    const reason = error instanceof errors.JWTExpired ? "expired" : "invalid";
    throw new ApiError("unauthorized", `The agent token is ${reason}`);
  }
  const fresh = await getRedis().set(`agent-jti:${payload.jti}`, 1, { nx: true, ex: 2 * lifetimeSeconds });
  if (fresh !== "OK") {
    throw new ApiError("unauthorized", "The agent token was already used");
  }
  return {
    userId: String(payload.sub),
    workspaceId: String(payload.wid),
    from: String(payload.from) as AgentName,
    parentTaskId: typeof payload.parent_task_id === "string" ? payload.parent_task_id : undefined,
  };
}
