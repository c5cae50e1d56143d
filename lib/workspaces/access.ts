/**
 * Who may do what in which workspace. Roles rank owner > admin > member; every check reads the
 * membership table with the service role (the caller's session is verified before), so a request can
 * never act in a workspace its user is not in.
 */
import { and, eq, inArray, sql } from "drizzle-orm";
import { rowsOf } from "../db/client";
import { type WorkspaceRole, workspaceMembers, workspaces } from "../db/schema";
import { serviceDb } from "../db/service";
import { ApiError } from "../http/errors";

const rank: Record<WorkspaceRole, number> = { member: 1, admin: 2, owner: 3 };

export interface WorkspaceAccess {
  id: string;
  role: WorkspaceRole;
}

export function atLeast(role: WorkspaceRole, wanted: WorkspaceRole): boolean {
  return rank[role] >= rank[wanted];
}

export async function roleIn(userId: string, workspaceId: string): Promise<WorkspaceRole | undefined> {
  const db = await serviceDb();
  const [row] = await db
    .select({ role: workspaceMembers.role })
    .from(workspaceMembers)
    .where(and(eq(workspaceMembers.workspace_id, workspaceId), eq(workspaceMembers.user_id, userId)));
  return row?.role;
}

/** The workspaces a user is a member of, with their role, oldest membership first. */
export async function membershipsOf(userId: string) {
  const db = await serviceDb();
  return db
    .select({
      id: workspaces.id,
      name: workspaces.name,
      personal: workspaces.personal,
      role: workspaceMembers.role,
    })
    .from(workspaceMembers)
    .innerJoin(workspaces, eq(workspaces.id, workspaceMembers.workspace_id))
    .where(eq(workspaceMembers.user_id, userId))
    .orderBy(workspaceMembers.created_at, workspaces.id);
}

/**
 * The workspace a request acts in: the one it names (the caller must be a member with at least
 * `minimum`), else the caller's only workspace, else their personal one (the same rule the database
 * applies to a frontend insert that names none); with neither, a 400 that lists the choices.
 */
export async function resolveWorkspace(
  userId: string,
  requested: string | undefined,
  minimum: WorkspaceRole = "member",
): Promise<WorkspaceAccess> {
  let id = requested?.toLowerCase();
  if (!id) {
    const db = await serviceDb();
    const [row] = rowsOf<{ id: string | null }>(
      await db.execute(sql`select private.default_workspace(${userId}::uuid) as id`),
    );
    id = row?.id ?? undefined;
    if (!id) {
      const choices = await membershipsOf(userId);
      throw new ApiError(
        "bad_request",
        choices.length
          ? "workspace_id: you are in several workspaces; name one"
          : "workspace_id: you are in no workspace",
        { details: { workspaces: choices } },
      );
    }
  }
  const role = await roleIn(userId, id);
  if (!role) {
    throw new ApiError("forbidden", "You are not a member of this workspace", {
      details: { workspace_id: id },
    });
  }
  if (!atLeast(role, minimum)) {
    throw new ApiError("forbidden", `This needs the ${minimum} role in the workspace; you are ${role}`, {
      details: { workspace_id: id, role },
    });
  }
  return { id, role };
}

/** Owners and admins of a workspace: who hears about its connections, mailboxes and settings. */
export async function adminsOf(workspaceId: string): Promise<string[]> {
  const db = await serviceDb();
  const rows = await db
    .select({ userId: workspaceMembers.user_id })
    .from(workspaceMembers)
    .where(
      and(eq(workspaceMembers.workspace_id, workspaceId), inArray(workspaceMembers.role, ["owner", "admin"])),
    );
  return rows.map((row) => row.userId);
}

export async function workspaceRow(workspaceId: string) {
  const db = await serviceDb();
  const [row] = await db.select().from(workspaces).where(eq(workspaces.id, workspaceId));
  if (!row) {
    throw new ApiError("not_found", "No such workspace");
  }
  return row;
}
