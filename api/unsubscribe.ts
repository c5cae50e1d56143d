// GET /api/unsubscribe?token=… – the footer link: a page whose button POSTs (a GET changes nothing)
// POST /api/unsubscribe?token=… – RFC 8058 one-click (urlencoded or multipart), and that button
import { unsubscribePath } from "../lib/email/unsubscribe";
import { unsubscribeFromLink, unsubscribeOneClick } from "../lib/email/unsubscribe-http";
import { route } from "../lib/http/handler";

export const { GET, POST, PUT, PATCH, DELETE, OPTIONS } = route(unsubscribePath, {
  GET: unsubscribeFromLink,
  POST: unsubscribeOneClick,
});
