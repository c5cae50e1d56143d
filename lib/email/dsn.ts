/**
 * What a message that looks like a bounce means. Delivery-status notifications (RFC 3464) carry a
 * `message/delivery-status` part whose per-recipient fields give the Action and an enhanced status
 * code (RFC 3463, class.subject.detail); that code decides:
 * - `hard`: the address is dead (5.1.x bad address, 5.2.1 disabled mailbox, 5.4.4 no route to the
 *   domain). The address is suppressed.
 * - `soft`: try again later (any 4.x.x, Action `delayed`, 5.2.2 mailbox full). Suppressed only after
 *   repeats.
 * - `blocked`: the receiving system refused this sender or message, not the address (5.7.x policy and
 *   reputation, 5.3.x/5.5.x/5.6.x system, protocol and content). Not the address's fault, so nothing
 *   is suppressed; it counts towards the bounce rate, where it belongs.
 * - `quota`: the sending account hit its own limit (5.4.5, Gmail's "Daily user sending quota
 *   exceeded"): the mailbox pauses, the email is sent again later.
 * - `auto_reply`: an automatic answer (RFC 3834 `Auto-Submitted`, or no report at all) is never a
 *   bounce, however its subject reads; it is read as a reply.
 * - `unknown`: a report without a status code this table knows, treated like a soft bounce.
 */

export type BounceKind = "hard" | "soft" | "blocked" | "quota" | "auto_reply" | "unknown";

export interface BounceVerdict {
  kind: BounceKind;
  /** The enhanced status code, e.g. `5.1.1`. */
  status: string | null;
  action: string | null;
  recipient: string | null;
  /** The remote server's words (Diagnostic-Code), cut. */
  diagnostic: string | null;
}

type Fields = Record<string, string>;

/**
 * RFC 3464 §2.1: the delivery-status body is a block of per-message fields, then one block per
 * recipient, separated by blank lines; each block is header-style `Name: value` lines (folded
 * lines continue with white space).
 */
export function deliveryStatusBlocks(body: string): Fields[] {
  const blocks: Fields[] = [];
  for (const chunk of body.replace(/\r\n?/g, "\n").split(/\n[ \t]*\n/)) {
    const fields: Fields = {};
    let last: string | undefined;
    for (const line of chunk.split("\n")) {
      if (/^[ \t]/.test(line) && last) {
        fields[last] = `${fields[last]} ${line.trim()}`;
        continue;
      }
      const colon = line.indexOf(":");
      if (colon > 0) {
        last = line.slice(0, colon).trim().toLowerCase();
        fields[last] = line.slice(colon + 1).trim();
      }
    }
    if (Object.keys(fields).length > 0) {
      blocks.push(fields);
    }
  }
  return blocks;
}

const statusCode = /\b([245])\.(\d{1,3})\.(\d{1,3})\b/;

/** The verdict for an enhanced status code (RFC 3463), with the Action when the report gives one. */
export function kindOfStatus(status: string, action?: string | null): BounceKind {
  const match = statusCode.exec(status);
  if (!match) {
    return "unknown";
  }
  const [, klass, subject, detail] = match;
  if (action?.toLowerCase() === "delayed" || klass === "4") {
    return "soft";
  }
  if (klass === "2") {
    return "unknown";
  }
  const code = `${subject}.${detail}`;
  if (code === "4.5") {
    return "quota";
  }
  if (subject === "1" || code === "2.1" || code === "4.4") {
    return "hard";
  }
  if (code === "2.2") {
    return "soft";
  }
  if (subject === "7" || subject === "3" || subject === "5" || subject === "6" || code === "2.3") {
    return "blocked";
  }
  return "unknown";
}

const autoReplyHeaders = (header: (name: string) => string) =>
  /^auto-(replied|generated|notified)/i.test(header("auto-submitted")) && !header("x-failed-recipients")
    ? true
    : header("x-autoreply") !== "" ||
      header("x-autorespond") !== "" ||
      /auto_reply/i.test(header("precedence"));

const cut = (text: string | undefined | null, max = 500) => (text ? text.slice(0, max) : null);

/**
 * Classifies a message Gmail put in the inbox that looks like a bounce (its raw RFC 5322 bytes),
 * parsed with postal-mime (loaded only here: most syncs never see a bounce). A message the parser
 * cannot read is `unknown`: it ends its email without suppressing anyone, and never stops the
 * mailbox's sync.
 */
export async function classifyBounce(raw: Uint8Array): Promise<BounceVerdict> {
  const { default: PostalMime } = await import("postal-mime");
  let parsed: Awaited<ReturnType<typeof PostalMime.parse>>;
  try {
    parsed = await PostalMime.parse(raw);
  } catch {
    return { kind: "unknown", status: null, action: null, recipient: null, diagnostic: null };
  }
  const header = (name: string) => parsed.headers.find((h) => h.key === name.toLowerCase())?.value ?? "";
  const report = parsed.attachments.find((part) =>
    /^message\/(global-)?delivery-status/i.test(part.mimeType ?? ""),
  );
  if (!report) {
    if (autoReplyHeaders(header) || !/mailer-daemon|postmaster/i.test(header("from"))) {
      return { kind: "auto_reply", status: null, action: null, recipient: null, diagnostic: null };
    }
    // A bounce without a report (older MTAs): the first enhanced status code in its text, if any.
    const text = parsed.text ?? "";
    const status = statusCode.exec(text)?.[0] ?? null;
    return {
      kind: status ? kindOfStatus(status) : "unknown",
      status,
      action: null,
      recipient: cut(header("x-failed-recipients"), 320),
      diagnostic: cut(text.trim()),
    };
  }
  const content = report.content;
  const body = typeof content === "string" ? content : new TextDecoder().decode(content);
  const blocks = deliveryStatusBlocks(body);
  // The first recipient block that failed or was delayed; a report may also list delivered ones.
  const recipients = blocks.filter((block) => block["final-recipient"] || block["original-recipient"]);
  const failed =
    recipients.find((block) => /^(failed|delayed)$/i.test(block.action ?? "")) ?? recipients[0] ?? {};
  const status = statusCode.exec(failed.status ?? "")?.[0] ?? null;
  const diagnostic = failed["diagnostic-code"] ?? null;
  return {
    kind: status
      ? kindOfStatus(status, failed.action)
      : diagnostic && statusCode.test(diagnostic)
        ? kindOfStatus(diagnostic, failed.action)
        : "unknown",
    status: status ?? (diagnostic ? (statusCode.exec(diagnostic)?.[0] ?? null) : null),
    action: failed.action?.toLowerCase() ?? null,
    recipient: cut(
      (failed["final-recipient"] ?? failed["original-recipient"] ?? "").replace(/^rfc822;\s*/i, ""),
      320,
    ),
    diagnostic: cut(diagnostic),
  };
}
