/**
 * Managing workspaces: create, list, settings, invitations, roles, leaving. Owners and admins manage
 * a workspace; the last owner can neither leave nor be demoted, so a workspace always has one.
 * Membership is written here only (the browser cannot write workspace_members at all).
 */
import { createHash, randomBytes } from "node:crypto";
import { and, count, eq, isNull, sql } from "drizzle-orm";
import { z } from "zod";
import { frontendUrl } from "../config";
import { rowsOf } from "../db/client";
import { type WorkspaceRole, workspaceInvitations, workspaceMembers, workspaces } from "../db/schema";
import { serviceDb } from "../db/service";
import { isoTimestamp } from "../db/timestamps";
import { sendNotice } from "../email/notices";
import { ApiError } from "../http/errors";
import { isValidTimeZone } from "../local-time";
import { atLeast, membershipsOf, resolveWorkspace, roleIn, workspaceRow } from "./access";

const invitationDays = 7;

export const workspaceSettings = z.object({
  name: z.string().trim().min(1).max(200),
  postal_address: z
    .string()
    .trim()
    .min(5)
    .max(500)
    .nullable()
    .meta({ description: "The business's postal address, printed in every email's footer (CAN-SPAM)" }),
  time_zone: z.string().refine(isValidTimeZone, "not an IANA time zone"),
  working_hours: z
    .string()
    .regex(/^([01]\d|2[0-3]):[0-5]\d-([01]\d|2[0-4]):[0-5]\d$/)
    .meta({ description: "When meetings may be booked, local to the time zone (HH:MM-HH:MM)" }),
  working_days: z
    .string()
    .regex(/^[1-7](-[1-7])?(,[1-7](-[1-7])?)*$/)
    .meta({ description: "ISO weekdays meetings may be booked on (1 = Monday), e.g. 1-5" }),
  sending_hours: z
    .string()
    .regex(/^([01]\d|2[0-3]):[0-5]\d-([01]\d|2[0-4]):[0-5]\d$/)
    .refine((hours) => {
      const [from = "", to = ""] = hours.split("-");
      return from < to;
    }, "the window must end after it starts")
    .meta({
      description: "When emails may arrive, in each lead's local time (HH:MM-HH:MM; default 09:00-17:00)",
    }),
  sending_days: z
    .string()
    .regex(/^[1-7](-[1-7])?(,[1-7](-[1-7])?)*$/)
    .meta({
      description: "ISO weekdays emails may arrive on, in the lead's local time (1 = Monday; default 1-5)",
    }),
  skip_holidays: z.boolean().meta({
    description:
      "Send nothing on a public holiday of the lead's country, when its country is known (default true)",
  }),
  accept_foreign_contacts: z.boolean().meta({
    description:
      "Keep and email addresses a scraped site lists on another domain (default false: they are dropped)",
  }),
});
export const createWorkspaceBody = workspaceSettings.partial().required({ name: true });
export const updateWorkspaceBody = workspaceSettings
  .partial()
  .refine((body) => Object.keys(body).length > 0, "name at least one setting to change");

export const workspaceView = z
  .object({
    id: z.uuid(),
    name: z.string(),
    personal: z.boolean(),
    role: z.enum(["owner", "admin", "member"]),
    postal_address: z.string().nullable(),
    time_zone: z.string(),
    working_hours: z.string(),
    working_days: z.string(),
    sending_hours: z.string(),
    sending_days: z.string(),
    skip_holidays: z.boolean(),
    accept_foreign_contacts: z.boolean(),
    members: z.number().int(),
    created_at: z.string(),
  })
  .meta({ id: "Workspace" });
export type WorkspaceView = z.infer<typeof workspaceView>;

export const memberView = z
  .object({ workspace_id: z.uuid(), user_id: z.uuid(), role: z.enum(["owner", "admin", "member"]) })
  .meta({ id: "WorkspaceMember" });

/** What removing a member (or leaving) answers. */
export const memberRemoved = z.object({
  removed: z.literal(true),
  workspace_id: z.uuid(),
  user_id: z.uuid(),
});

export const inviteBody = z.object({
  email: z.email().max(320),
  role: z.enum(["admin", "member"]).default("member"),
});
export const invitationView = z
  .object({
    id: z.uuid(),
    workspace_id: z.uuid(),
    email: z.string(),
    role: z.enum(["admin", "member"]),
    expires_at: z.string(),
    delivery: z.enum(["sent", "outboxed"]),
  })
  .meta({ id: "WorkspaceInvitation" });
export const acceptBody = z.object({ token: z.string().min(20).max(200) });
export const roleBody = z.object({ role: z.enum(["owner", "admin", "member"]) });

const tokenHash = (token: string) => createHash("sha256").update(token).digest("hex");

async function view(userId: string, workspaceId: string): Promise<WorkspaceView> {
  const db = await serviceDb();
  const row = await workspaceRow(workspaceId);
  const role = await roleIn(userId, workspaceId);
  const [members] = await db
    .select({ n: count() })
    .from(workspaceMembers)
    .where(eq(workspaceMembers.workspace_id, workspaceId));
  if (!role) {
    throw new ApiError("forbidden", "You are not a member of this workspace");
  }
  return {
    id: row.id,
    name: row.name,
    personal: row.personal,
    role,
    postal_address: row.postal_address,
    time_zone: row.time_zone,
    working_hours: row.working_hours,
    working_days: row.working_days,
    sending_hours: row.sending_hours,
    sending_days: row.sending_days,
    skip_holidays: row.skip_holidays,
    accept_foreign_contacts: row.accept_foreign_contacts,
    members: members?.n ?? 0,
    created_at: isoTimestamp(row.created_at),
  };
}

export async function listWorkspaces(userId: string): Promise<WorkspaceView[]> {
  const mine = await membershipsOf(userId);
  return Promise.all(mine.map((workspace) => view(userId, workspace.id)));
}

export async function getWorkspace(userId: string, workspaceId: string): Promise<WorkspaceView> {
  await resolveWorkspace(userId, workspaceId);
  return view(userId, workspaceId);
}

/** A new (shared) workspace, with its creator as owner. */
export async function createWorkspace(
  userId: string,
  body: z.infer<typeof createWorkspaceBody>,
): Promise<WorkspaceView> {
  const db = await serviceDb();
  const id = await db.transaction(async (tx) => {
    const [row] = await tx
      .insert(workspaces)
      .values({ ...body, personal: false, created_by: userId })
      .returning({ id: workspaces.id });
    if (!row) {
      throw new Error("workspace insert returned nothing");
    }
    await tx.insert(workspaceMembers).values({ workspace_id: row.id, user_id: userId, role: "owner" });
    return row.id;
  });
  return view(userId, id);
}

export async function updateWorkspace(
  userId: string,
  workspaceId: string,
  body: z.infer<typeof updateWorkspaceBody>,
): Promise<WorkspaceView> {
  await resolveWorkspace(userId, workspaceId, "admin");
  const db = await serviceDb();
  await db.update(workspaces).set(body).where(eq(workspaces.id, workspaceId));
  return view(userId, workspaceId);
}

/**
 * Invites an address to the workspace: a single-use token (only its hash is stored) in an email from
 * the workspace's mailbox, or in the outbox when it has none. Inviting the same address again
 * replaces the open invitation. An admin invites members and admins; the owner role is given later.
 */
export async function invite(
  userId: string,
  workspaceId: string,
  body: z.infer<typeof inviteBody>,
): Promise<z.infer<typeof invitationView>> {
  const access = await resolveWorkspace(userId, workspaceId, "admin");
  const workspace = await workspaceRow(workspaceId);
  const db = await serviceDb();
  const email = body.email.toLowerCase();
  const [existing] = rowsOf(
    await db.execute(sql`
      select 1 from ${workspaceMembers} m join auth.users u on u.id = m.user_id
      where m.workspace_id = ${workspaceId} and lower(u.email) = ${email}`),
  );
  if (existing) {
    throw new ApiError("conflict", `${email} is already a member of this workspace`, { retryable: false });
  }
  const token = randomBytes(32).toString("base64url");
  const expires = new Date(Date.now() + invitationDays * 86_400_000).toISOString();
  const invitation = await db.transaction(async (tx) => {
    await tx
      .update(workspaceInvitations)
      .set({ revoked_at: new Date().toISOString() })
      .where(
        and(
          eq(workspaceInvitations.workspace_id, workspaceId),
          sql`lower(${workspaceInvitations.email}) = ${email}`,
          isNull(workspaceInvitations.accepted_at),
          isNull(workspaceInvitations.revoked_at),
        ),
      );
    const [row] = await tx
      .insert(workspaceInvitations)
      .values({
        workspace_id: workspaceId,
        email,
        role: body.role,
        token_hash: tokenHash(token),
        invited_by: userId,
        expires_at: expires,
      })
      .returning();
    return row;
  });
  if (!invitation) {
    throw new Error("invitation insert returned nothing");
  }
  const link = `${frontendUrl()}/invitations/accept?token=${token}`;
  const who = access.role === "owner" ? "The owner" : "An admin";
  const sent = await sendNotice({
    workspaceId,
    userId,
    to: email,
    kind: "invitation",
    subject: `You are invited to ${workspace.name}`,
    text: `${who} of ${workspace.name} invited you to join its AI Agent Team as ${body.role === "admin" ? "an admin" : "a member"}.\r\n\r\nAccept within ${invitationDays} days: ${link}\r\n\r\nSign in with this address (${email}) to accept. If you did not expect this, ignore it.\r\n`,
    html: `<p>${who} of <strong>${escapeHtml(workspace.name)}</strong> invited you to join its AI Agent Team as ${body.role === "admin" ? "an admin" : "a member"}.</p><p><a href="${link}">Accept the invitation</a> within ${invitationDays} days, signed in as ${escapeHtml(email)}.</p><p>If you did not expect this, ignore it.</p>`,
  });
  await db
    .update(workspaceInvitations)
    .set({ email_event_id: sent.id })
    .where(eq(workspaceInvitations.id, invitation.id));
  return {
    id: invitation.id,
    workspace_id: workspaceId,
    email,
    role: body.role,
    expires_at: isoTimestamp(invitation.expires_at),
    delivery: sent.outcome,
  };
}

const escapeHtml = (value: string) => value.replace(/[&<>"']/g, (char) => `&#${char.charCodeAt(0)};`);

/**
 * Accepts an invitation: the token must be open (not used, revoked or expired), and the session's
 * verified address must be the one invited (a forwarded link does not let someone else in).
 */
export async function acceptInvitation(
  user: { id: string; email: string | undefined },
  token: string,
): Promise<WorkspaceView> {
  const db = await serviceDb();
  const workspaceId = await db.transaction(async (tx) => {
    const [invitation] = await tx
      .select()
      .from(workspaceInvitations)
      .where(eq(workspaceInvitations.token_hash, tokenHash(token)))
      .for("update");
    if (!invitation || invitation.revoked_at) {
      throw new ApiError("not_found", "No such invitation (it may have been replaced or revoked)");
    }
    if (invitation.accepted_at) {
      throw new ApiError("conflict", "This invitation was already accepted", { retryable: false });
    }
    if (Date.parse(isoTimestamp(invitation.expires_at)) < Date.now()) {
      throw new ApiError("unprocessable_entity", "This invitation has expired; ask for a new one", {
        retryable: false,
      });
    }
    if (!user.email || user.email.toLowerCase() !== invitation.email.toLowerCase()) {
      throw new ApiError(
        "forbidden",
        "This invitation is for another address; sign in as the invited address",
      );
    }
    await tx
      .insert(workspaceMembers)
      .values({
        workspace_id: invitation.workspace_id,
        user_id: user.id,
        role: invitation.role,
        invited_by: invitation.invited_by,
      })
      .onConflictDoNothing();
    await tx
      .update(workspaceInvitations)
      .set({ accepted_at: new Date().toISOString(), accepted_by: user.id })
      .where(eq(workspaceInvitations.id, invitation.id));
    return invitation.workspace_id;
  });
  return view(user.id, workspaceId);
}

async function owners(workspaceId: string): Promise<number> {
  const db = await serviceDb();
  const [row] = await db
    .select({ n: count() })
    .from(workspaceMembers)
    .where(and(eq(workspaceMembers.workspace_id, workspaceId), eq(workspaceMembers.role, "owner")));
  return row?.n ?? 0;
}

/**
 * Changes a member's role. Owners change any role (giving or taking the owner role included); admins
 * move members and admins between those two. The last owner cannot be demoted.
 */
export async function changeRole(
  actorId: string,
  workspaceId: string,
  memberId: string,
  role: WorkspaceRole,
): Promise<z.infer<typeof memberView>> {
  const actor = await resolveWorkspace(actorId, workspaceId, "admin");
  const current = await roleIn(memberId, workspaceId);
  if (!current) {
    throw new ApiError("not_found", "No such member of this workspace");
  }
  const touchesOwner = current === "owner" || role === "owner";
  if (touchesOwner && actor.role !== "owner") {
    throw new ApiError("forbidden", "Only an owner gives or takes the owner role");
  }
  if (current === "owner" && role !== "owner" && (await owners(workspaceId)) <= 1) {
    throw new ApiError("conflict", "The last owner cannot be demoted; make someone else owner first", {
      retryable: false,
    });
  }
  const db = await serviceDb();
  await db
    .update(workspaceMembers)
    .set({ role })
    .where(and(eq(workspaceMembers.workspace_id, workspaceId), eq(workspaceMembers.user_id, memberId)));
  return { workspace_id: workspaceId, user_id: memberId, role };
}

/**
 * Removes a member, or (for oneself) leaves. Owners remove anyone, admins remove members; the last
 * owner can do neither to themselves. What the member made stays in the workspace.
 */
export async function removeMember(
  actorId: string,
  workspaceId: string,
  memberId: string,
): Promise<z.output<typeof memberRemoved>> {
  const leaving = actorId === memberId;
  const actor = await resolveWorkspace(actorId, workspaceId, leaving ? "member" : "admin");
  const current = await roleIn(memberId, workspaceId);
  if (!current) {
    throw new ApiError("not_found", "No such member of this workspace");
  }
  if (!leaving && !atLeast(actor.role, current === "member" ? "admin" : "owner")) {
    throw new ApiError("forbidden", `Only an owner removes ${current === "owner" ? "an owner" : "an admin"}`);
  }
  if (current === "owner" && (await owners(workspaceId)) <= 1) {
    throw new ApiError(
      "conflict",
      leaving
        ? "The last owner cannot leave; make someone else owner first"
        : "The last owner cannot be removed",
      { retryable: false },
    );
  }
  const db = await serviceDb();
  await db
    .delete(workspaceMembers)
    .where(and(eq(workspaceMembers.workspace_id, workspaceId), eq(workspaceMembers.user_id, memberId)));
  return { removed: true, workspace_id: workspaceId, user_id: memberId };
}
