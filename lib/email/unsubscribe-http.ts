import { z } from "zod";
import { ApiError } from "../http/errors";
import { ok, type RequestContext } from "../http/handler";
import { suppress } from "./suppression";
import { readUnsubscribeToken, type UnsubscribeClaims } from "./unsubscribe";

/**
 * The two ways the unsubscribe URL is used. A person following the footer link gets a page with a
 * button: a GET changes nothing, because mail gateways' link scanners fetch every link in a message
 * (RFC 8058 §1 puts the action on POST for that reason). A mail client's one-click unsubscribe is
 * the POST RFC 8058 §3.1 describes, `List-Unsubscribe=One-Click` in a urlencoded or multipart form
 * body, and suppresses at once; so does the page's button.
 */

const escapeHtml = (value: string) => value.replace(/[&<>"']/g, (char) => `&#${char.charCodeAt(0)};`);

function page(status: number, title: string, body: string): Response {
  const html = `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1"><meta name="robots" content="noindex"><title>${escapeHtml(title)}</title><style>body{font:16px/1.5 system-ui,sans-serif;max-width:32rem;margin:4rem auto;padding:0 1rem;color:#222}button{font:inherit;padding:.5rem 1.25rem;border-radius:.375rem;border:1px solid #222;background:#222;color:#fff;cursor:pointer}</style></head><body><h1>${escapeHtml(title)}</h1>${body}</body></html>`;
  return new Response(html, {
    status,
    headers: {
      "content-type": "text/html; charset=utf-8",
      "cache-control": "no-store",
      "content-security-policy": "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'",
      "referrer-policy": "no-referrer",
      "x-frame-options": "DENY",
    },
  });
}

const invalidLink = () =>
  page(
    400,
    "This link is not valid",
    "<p>The unsubscribe link is incomplete or was altered. Use the link from the email itself.</p>",
  );

function claimOf(ctx: RequestContext): UnsubscribeClaims | undefined {
  return readUnsubscribeToken(ctx.url.searchParams.get("token") ?? "");
}

/** `GET /api/unsubscribe?token=…`: the footer link. Asks, with a button that POSTs; changes nothing. */
export async function unsubscribeFromLink(ctx: RequestContext): Promise<Response> {
  const claim = claimOf(ctx);
  if (!claim) {
    return invalidLink();
  }
  const action = `${ctx.url.pathname}?token=${encodeURIComponent(ctx.url.searchParams.get("token") ?? "")}`;
  return page(
    200,
    "Unsubscribe?",
    `<p>${escapeHtml(claim.email)} will receive no more emails from this sender.</p><form method="post" action="${escapeHtml(action)}"><input type="hidden" name="List-Unsubscribe" value="One-Click"><input type="hidden" name="from" value="page"><button type="submit">Unsubscribe</button></form>`,
  );
}

/** The body RFC 8058 §3.1 defines; `from=page` marks the page's own button. */
export const oneClickForm = z.object({
  "List-Unsubscribe": z.literal("One-Click"),
  from: z.literal("page").optional(),
});
/** What a one-click POST answers (in the `data` of the envelope). */
export const oneClickResult = z.object({
  unsubscribed: z.literal(true),
  already: z.boolean().meta({ description: "The address was suppressed before" }),
});

const formTypes = ["application/x-www-form-urlencoded", "multipart/form-data"];

/** The fields of a urlencoded or multipart body, parsed as a browser's FormData would be. */
async function formOf(ctx: RequestContext): Promise<FormData> {
  const type = ctx.request.headers.get("content-type") ?? "";
  if (!formTypes.some((form) => type.toLowerCase().startsWith(form))) {
    throw new ApiError(
      "unsupported_media_type",
      "The body must be application/x-www-form-urlencoded or multipart/form-data (RFC 8058)",
    );
  }
  try {
    return await new Response(await ctx.text(), { headers: { "content-type": type } }).formData();
  } catch {
    throw new ApiError("bad_request", "The form body could not be parsed");
  }
}

/**
 * `POST /api/unsubscribe?token=…` with `List-Unsubscribe=One-Click`: a mail client's one-click
 * (answered in the JSON envelope) or the page's button (answered with a page).
 */
export async function unsubscribeOneClick(ctx: RequestContext): Promise<Response> {
  const claim = claimOf(ctx);
  const form = await formOf(ctx);
  const fromPage = form.get("from") === "page";
  if (!claim) {
    if (fromPage) {
      return invalidLink();
    }
    throw new ApiError("bad_request", "The unsubscribe token is missing, incomplete or altered");
  }
  if (form.get("List-Unsubscribe") !== "One-Click") {
    throw new ApiError("bad_request", "The body must carry List-Unsubscribe=One-Click (RFC 8058)");
  }
  const source = fromPage ? "unsubscribe page" : "one-click";
  const { added } = await suppress(claim, claim.email, "unsubscribed", source, claim.leadId);
  if (fromPage) {
    return page(
      200,
      "You are unsubscribed",
      `<p>${escapeHtml(claim.email)} will receive no more emails from this sender.</p>`,
    );
  }
  const result: z.infer<typeof oneClickResult> = { unsubscribed: true, already: !added };
  return ok(result);
}
