import { randomUUID } from "node:crypto";
import { and, eq, sql } from "drizzle-orm";
import { simpleParser } from "mailparser";
import { beforeAll, describe, expect, it } from "vitest";
import * as engineer from "../api/agents/engineer";
import * as alertsList from "../api/alerts/[user_id]";
import * as accept from "../api/invitations/accept";
import * as leadsList from "../api/leads/[user_id]";
import * as tasksList from "../api/tasks/[user_id]";
import * as workspaceOne from "../api/workspaces/[workspace_id]";
import * as invitations from "../api/workspaces/[workspace_id]/invitations";
import * as members from "../api/workspaces/[workspace_id]/members/[user_id]";
import * as workspacesIndex from "../api/workspaces/index";
import {
  agentTasks,
  alerts,
  emailEvents,
  leads,
  workspaceInvitations,
  workspaceMembers,
} from "../lib/db/schema";
import { serviceDb } from "../lib/db/service";
import { addMember, call, createUser, tokenFor } from "./support/helpers";

/**
 * Workspaces through their API: create, list, settings, invitations by email (single-use tokens,
 * the invited address only), roles and leaving (a workspace always keeps an owner), what members of
 * a shared workspace see in the lists, and which workspace an agent call lands in.
 */
interface Person {
  id: string;
  email: string;
  token: string;
}

async function person(): Promise<Person> {
  const email = `p-${randomUUID().slice(0, 8)}@example.test`;
  const id = await createUser(email);
  return { id, email, token: await tokenFor(id, { email }) };
}

const shown = (res: { status: number; body: unknown }) => JSON.stringify(res);

/** The token in the invitation email, read from the email the outbox holds. */
async function invitationToken(invitationId: string): Promise<string> {
  const db = await serviceDb();
  const [invitation] = await db
    .select()
    .from(workspaceInvitations)
    .where(eq(workspaceInvitations.id, invitationId));
  const [email] = await db
    .select()
    .from(emailEvents)
    .where(eq(emailEvents.id, invitation?.email_event_id ?? randomUUID()));
  const mime = ((email?.metadata ?? {}) as { mime?: string }).mime ?? "";
  const text = (await simpleParser(mime)).text ?? "";
  const token = /token=([\w-]+)/.exec(text)?.[1];
  if (!token) {
    throw new Error(`no token in ${text}`);
  }
  return token;
}

let owner: Person;
let admin: Person;
let workspace: string;

beforeAll(async () => {
  owner = await person();
  admin = await person();
  const created = await call(workspacesIndex, "POST", "/api/workspaces", {
    token: owner.token,
    body: {
      name: "Harbour Coffee Co",
      postal_address: "1 Quay, Bristol BS1 1AA",
      time_zone: "Europe/London",
    },
  });
  expect(created.status, shown(created)).toBe(201);
  workspace = (created.body.data as { id: string }).id;
  await addMember(workspace, admin.id, "admin");
});

describe("workspaces", () => {
  it("a new workspace has its creator as owner; the list shows it beside the personal one", async () => {
    const list = await call(workspacesIndex, "GET", "/api/workspaces", { token: owner.token });
    expect(list.status, shown(list)).toBe(200);
    const mine = list.body.data as { id: string; role: string; personal: boolean; members: number }[];
    expect(mine.map((w) => [w.personal, w.role]).sort()).toEqual([
      [false, "owner"],
      [true, "owner"],
    ]);
    expect(mine.find((w) => w.id === workspace)?.members).toBe(2);
  });

  it("owners and admins change the settings; members and strangers cannot; a bad time zone is a 400", async () => {
    const byAdmin = await call(workspaceOne, "PATCH", `/api/workspaces/${workspace}`, {
      token: admin.token,
      body: { working_hours: "08:00-16:00" },
    });
    expect(byAdmin.status, shown(byAdmin)).toBe(200);
    expect((byAdmin.body.data as { working_hours: string }).working_hours).toBe("08:00-16:00");
    const stranger = await person();
    const refused = await call(workspaceOne, "PATCH", `/api/workspaces/${workspace}`, {
      token: stranger.token,
      body: { name: "Mine now" },
    });
    expect(refused.status, shown(refused)).toBe(403);
    expect(
      (await call(workspaceOne, "GET", `/api/workspaces/${workspace}`, { token: stranger.token })).status,
    ).toBe(403);
    const badZone = await call(workspaceOne, "PATCH", `/api/workspaces/${workspace}`, {
      token: owner.token,
      body: { time_zone: "Mars/Olympus" },
    });
    expect(badZone.status, shown(badZone)).toBe(400);
  });
});

describe("invitations", () => {
  it("an invitation goes out by email; only the invited address accepts it, once, before it expires", async () => {
    const invitee = await person();
    const invited = await call(invitations, "POST", `/api/workspaces/${workspace}/invitations`, {
      token: admin.token,
      body: { email: invitee.email.toUpperCase(), role: "member" },
    });
    expect(invited.status, shown(invited)).toBe(201);
    const invitation = invited.body.data as { id: string; delivery: string; email: string };
    // This workspace has no Google account: the email is in the outbox.
    expect(invitation).toMatchObject({ delivery: "outboxed", email: invitee.email });
    const token = await invitationToken(invitation.id);
    const db = await serviceDb();
    const [stored] = await db
      .select()
      .from(workspaceInvitations)
      .where(eq(workspaceInvitations.id, invitation.id));
    expect(stored?.token_hash).not.toContain(token);
    expect(JSON.stringify(stored)).not.toContain(token);

    // Not yet accepted: the invitee is not a member and cannot act in the workspace.
    const early = await call(engineer, "POST", "/api/agents/engineer", {
      token: invitee.token,
      body: { user_id: invitee.id, workspace_id: workspace, prompt: "hello" },
    });
    expect(early.status, shown(early)).toBe(403);

    const someoneElse = await person();
    const forwarded = await call(accept, "POST", "/api/invitations/accept", {
      token: someoneElse.token,
      body: { token },
    });
    expect(forwarded.status, shown(forwarded)).toBe(403);

    const joined = await call(accept, "POST", "/api/invitations/accept", {
      token: invitee.token,
      body: { token },
    });
    expect(joined.status, shown(joined)).toBe(200);
    expect(joined.body.data).toMatchObject({ id: workspace, role: "member" });
    const again = await call(accept, "POST", "/api/invitations/accept", {
      token: invitee.token,
      body: { token },
    });
    expect(again.status, shown(again)).toBe(409);
  });

  it("inviting again replaces the open invitation; an expired or unknown token is refused", async () => {
    const invitee = await person();
    const first = await call(invitations, "POST", `/api/workspaces/${workspace}/invitations`, {
      token: owner.token,
      body: { email: invitee.email },
    });
    const firstToken = await invitationToken((first.body.data as { id: string }).id);
    const second = await call(invitations, "POST", `/api/workspaces/${workspace}/invitations`, {
      token: owner.token,
      body: { email: invitee.email },
    });
    const secondId = (second.body.data as { id: string }).id;
    const replaced = await call(accept, "POST", "/api/invitations/accept", {
      token: invitee.token,
      body: { token: firstToken },
    });
    expect(replaced.status, shown(replaced)).toBe(404);
    const db = await serviceDb();
    await db
      .update(workspaceInvitations)
      .set({ expires_at: new Date(Date.now() - 1000).toISOString() })
      .where(eq(workspaceInvitations.id, secondId));
    const expired = await call(accept, "POST", "/api/invitations/accept", {
      token: invitee.token,
      body: { token: await invitationToken(secondId) },
    });
    expect(expired.status, shown(expired)).toBe(422);
    const unknown = await call(accept, "POST", "/api/invitations/accept", {
      token: invitee.token,
      body: { token: "x".repeat(43) },
    });
    expect(unknown.status, shown(unknown)).toBe(404);
  });

  it("members cannot invite; an address already in the workspace is a 409", async () => {
    const member = await person();
    await addMember(workspace, member.id, "member");
    const byMember = await call(invitations, "POST", `/api/workspaces/${workspace}/invitations`, {
      token: member.token,
      body: { email: "new@example.test" },
    });
    expect(byMember.status, shown(byMember)).toBe(403);
    const dup = await call(invitations, "POST", `/api/workspaces/${workspace}/invitations`, {
      token: owner.token,
      body: { email: member.email },
    });
    expect(dup.status, shown(dup)).toBe(409);
  });
});

describe("roles and leaving", () => {
  const path = (userId: string) => `/api/workspaces/${workspace}/members/${userId}`;

  it("only an owner gives the owner role; the last owner can neither be demoted nor leave", async () => {
    const member = await person();
    await addMember(workspace, member.id, "member");
    const byAdmin = await call(members, "PATCH", path(member.id), {
      token: admin.token,
      body: { role: "owner" },
    });
    expect(byAdmin.status, shown(byAdmin)).toBe(403);
    const promoted = await call(members, "PATCH", path(member.id), {
      token: admin.token,
      body: { role: "admin" },
    });
    expect(promoted.status, shown(promoted)).toBe(200);
    const demoteSelf = await call(members, "PATCH", path(owner.id), {
      token: owner.token,
      body: { role: "admin" },
    });
    expect(demoteSelf.status, shown(demoteSelf)).toBe(409);
    const leave = await call(members, "DELETE", path(owner.id), { token: owner.token });
    expect(leave.status, shown(leave)).toBe(409);
    // With a second owner, the first may go.
    await call(members, "PATCH", path(member.id), { token: owner.token, body: { role: "owner" } });
    const demoted = await call(members, "PATCH", path(member.id), {
      token: owner.token,
      body: { role: "member" },
    });
    expect(demoted.status, shown(demoted)).toBe(200);
  });

  it("admins remove members but not owners; anyone may leave; what they made stays", async () => {
    const member = await person();
    await addMember(workspace, member.id, "member");
    const db = await serviceDb();
    await db.insert(leads).values({
      workspace_id: workspace,
      user_id: member.id,
      name: "Kept",
      email: `${randomUUID()}@kept.example`,
    });
    const ownerGone = await call(members, "DELETE", path(owner.id), { token: admin.token });
    expect(ownerGone.status, shown(ownerGone)).toBe(403);
    const removed = await call(members, "DELETE", path(member.id), { token: admin.token });
    expect(removed.status, shown(removed)).toBe(200);
    expect(
      await db
        .select()
        .from(workspaceMembers)
        .where(and(eq(workspaceMembers.workspace_id, workspace), eq(workspaceMembers.user_id, member.id))),
    ).toHaveLength(0);
    expect(await db.select().from(leads).where(eq(leads.user_id, member.id))).toHaveLength(1);
    const leaver = await person();
    await addMember(workspace, leaver.id, "member");
    expect((await call(members, "DELETE", path(leaver.id), { token: leaver.token })).status).toBe(200);
  });
});

describe("sharing and the workspace a call lands in", () => {
  it("members see the workspace's rows in every list, filtered by workspace on request; alerts only their own", async () => {
    const member = await person();
    await addMember(workspace, member.id, "member");
    const db = await serviceDb();
    const [lead] = await db
      .insert(leads)
      .values({
        workspace_id: workspace,
        user_id: owner.id,
        name: "Shared lead",
        email: `${randomUUID()}@shared.example`,
      })
      .returning();
    await db.insert(leads).values({ workspace_id: member.id, user_id: member.id, name: "Personal lead" });
    await db.insert(alerts).values([
      { workspace_id: workspace, user_id: owner.id, type: "test", message: "for the owner" },
      { workspace_id: workspace, user_id: member.id, type: "test", message: "for the member" },
    ]);
    const all = await call(leadsList, "GET", `/api/leads/${member.id}`, { token: member.token });
    const names = (all.body.data as { name: string }[]).map((row) => row.name);
    expect(names).toEqual(expect.arrayContaining(["Shared lead", "Personal lead"]));
    const filtered = await call(leadsList, "GET", `/api/leads/${member.id}?workspace_id=${workspace}`, {
      token: member.token,
    });
    expect((filtered.body.data as { id: string; name: string }[]).map((row) => row.name)).not.toContain(
      "Personal lead",
    );
    expect((filtered.body.data as { id: string }[]).map((row) => row.id)).toContain(lead?.id);
    const mine = await call(alertsList, "GET", `/api/alerts/${member.id}?workspace_id=${workspace}`, {
      token: member.token,
    });
    expect((mine.body.data as { message: string }[]).map((row) => row.message)).toEqual(["for the member"]);
  });

  it("an agent call lands in the named workspace, else the only one, else the personal one; ambiguity lists the choices", async () => {
    const member = await person();
    await addMember(workspace, member.id, "member");
    const run = (body: Record<string, unknown>) =>
      call(engineer, "POST", "/api/agents/engineer", {
        token: member.token,
        body: { user_id: member.id, prompt: `Write add() ${randomUUID()}`, ...body },
      });
    const named = await run({ workspace_id: workspace });
    expect(named.status, shown(named)).toBe(200);
    expect((named.body.data as { task: { workspace_id: string } }).task.workspace_id).toBe(workspace);
    const unnamed = await run({});
    expect((unnamed.body.data as { task: { workspace_id: string } }).task.workspace_id).toBe(member.id);
    // Someone with no personal workspace and two others must name one.
    const db = await serviceDb();
    await db.execute(
      sql`delete from public.workspace_members where workspace_id = ${member.id} and user_id = ${member.id}`,
    );
    const other = await call(workspacesIndex, "POST", "/api/workspaces", {
      token: member.token,
      body: { name: "Side" },
    });
    expect(other.status).toBe(201);
    const ambiguous = await run({});
    expect(ambiguous.status, shown(ambiguous)).toBe(400);
    const details = (ambiguous.body.error?.details ?? { workspaces: [] }) as { workspaces: { id: string }[] };
    const choices = details.workspaces.map((w) => w.id);
    expect(choices.sort()).toEqual([workspace, (other.body.data as { id: string }).id].sort());
    const tasks = await call(tasksList, "GET", `/api/tasks/${member.id}`, { token: member.token });
    expect((tasks.body.data as { id: string }[]).length).toBeGreaterThanOrEqual(1);
    expect(await db.select().from(agentTasks).where(eq(agentTasks.user_id, member.id))).toHaveLength(2);
  });
});
