import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { getRequestListener } from "@hono/node-server";
import type { Requester } from "@upstash/redis";

/**
 * A stand-in for Upstash's Redis REST API (`POST /`, `/pipeline`, `/multi-exec`, Bearer token,
 * `Upstash-Encoding: base64`), over any Redis requester. It lets tests drive the production
 * transport of `@upstash/redis` — URL, token, base64 decoding — against a real engine.
 */
export async function startUpstashRest(
  requester: Requester,
  token: string,
  /** Commands answered as Upstash does in an outage (503), to test what fails open and what closed. */
  outage: (command: unknown[]) => boolean = () => false,
): Promise<{ url: string; server: Server }> {
  const encode = (value: unknown): unknown => {
    if (typeof value === "string") {
      return value === "OK" ? value : Buffer.from(value).toString("base64");
    }
    return Array.isArray(value) ? value.map(encode) : value;
  };
  const server = createServer(
    getRequestListener(async (request) => {
      if (request.headers.get("authorization") !== `Bearer ${token}`) {
        return Response.json({ error: "Unauthorized" }, { status: 401 });
      }
      const path = new URL(request.url).pathname;
      const body = await request.json();
      const commands = (path === "/pipeline" || path === "/multi-exec" ? body : [body]) as unknown[][];
      if (commands.some((command) => outage(command))) {
        return Response.json({ error: "Service Unavailable" }, { status: 503 });
      }
      const base64 = request.headers.get("upstash-encoding") === "base64";
      const shape = (reply: { result?: unknown; error?: string }) =>
        reply.error ? { error: reply.error } : { result: base64 ? encode(reply.result) : reply.result };
      if (path === "/pipeline" || path === "/multi-exec") {
        const replies = (await requester.request({ path: [path.slice(1)], body })) as unknown as {
          result?: unknown;
          error?: string;
        }[];
        return Response.json(replies.map(shape));
      }
      const reply = await requester.request({ body });
      return Response.json(shape(reply), { status: reply.error ? 400 : 200 });
    }),
  );
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server };
}
