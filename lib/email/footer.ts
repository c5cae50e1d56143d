import { ApiError } from "../http/errors";
import { workspaceRow } from "../workspaces/access";

/**
 * What every commercial email ends with: the sender's name and valid physical postal address
 * (CAN-SPAM, 15 U.S.C. 7704(a)(5)(A)(iii)) and a working way to opt out. The address is the
 * workspace's, so a workspace without one sends nothing.
 */
export interface Sender {
  name: string;
  postalAddress: string;
}

const escapeHtml = (text: string) => text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

/** The workspace as the legal sender, or a 409 saying what to set before the first send. */
export async function senderOf(workspaceId: string): Promise<Sender> {
  const workspace = await workspaceRow(workspaceId);
  const postalAddress = workspace.postal_address?.trim();
  if (!postalAddress) {
    throw new ApiError(
      "postal_address_required",
      "Set the workspace's postal address (PATCH /api/workspaces/{id}) before sending: every commercial email must carry it",
      { details: { field: "postal_address", workspace_id: workspaceId } },
    );
  }
  return { name: workspace.name, postalAddress };
}

/** The body with the footer: the sender and its postal address, then the unsubscribe link. */
export function withFooter(
  body: { text: string | null; html: string | null },
  sender: Sender,
  unsubscribeUrl: string,
): { text: string; html: string } {
  const address = sender.postalAddress.replace(/\s*\n\s*/g, ", ");
  const text = `${body.text ?? ""}\n\n--\n${sender.name}, ${address}\nNot interested? Unsubscribe: ${unsubscribeUrl}\n`;
  const html =
    `${body.html ?? ""}<hr><p style="font-size:12px;color:#666">${escapeHtml(sender.name)}, ${escapeHtml(address)}<br>` +
    `Not interested? <a href="${escapeHtml(unsubscribeUrl)}">Unsubscribe</a>.</p>`;
  return { text, html };
}
