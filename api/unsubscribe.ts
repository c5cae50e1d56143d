// GET and POST /api/unsubscribe?token=… – the link in every email (GET) and RFC 8058 one-click (POST); both suppress the address at once
import { unsubscribeFromLink, unsubscribeOneClick, unsubscribePath } from "../lib/email/unsubscribe";
import { route } from "../lib/http/handler";

export const { GET, POST, PUT, PATCH, DELETE, OPTIONS } = route(unsubscribePath, {
  GET: unsubscribeFromLink,
  POST: unsubscribeOneClick,
});
