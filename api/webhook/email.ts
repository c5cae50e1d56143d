// POST /webhook/email – Gmail push through Pub/Sub: OIDC token verified, deduplicated per message, mailbox history processed by the email worker
import { route } from "../../lib/http/handler";
import { handleEmailPush } from "../../lib/webhooks/email-events";

export const { GET, POST, PUT, PATCH, DELETE, OPTIONS } = route("/webhook/email", {
  POST: handleEmailPush,
});
