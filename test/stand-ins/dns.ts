import dns2 from "dns2";

const { Packet } = dns2;

/**
 * A DNS server on loopback for the MX checks of found addresses: the domains given have MX records,
 * every other name is NXDOMAIN (as the public DNS answers for a made-up domain). Real DNS over UDP,
 * reached through `DNS_SERVERS`, so the production lookup code runs unchanged.
 */
export async function startDnsStandIn(
  mx: Record<string, string>,
): Promise<{ server: string; close(): Promise<void> }> {
  const server = dns2.createServer({
    udp: true,
    handle: (request, send) => {
      const response = Packet.createResponseFromRequest(request);
      const [question] = request.questions;
      const name = (question?.name ?? "").toLowerCase();
      const exchange = mx[name];
      if (question && question.type === Packet.TYPE.MX && exchange) {
        response.answers.push({
          name: question.name,
          type: Packet.TYPE.MX,
          class: Packet.CLASS.IN,
          ttl: 300,
          exchange,
          priority: 10,
        } as never);
      } else if (!exchange) {
        response.header.rcode = Packet.RCODE.NXDOMAIN;
      }
      send(response);
    },
  });
  const addresses = await server.listen({ udp: { port: 0, address: "127.0.0.1" } });
  const port = (addresses as { udp?: { port: number } }).udp?.port;
  return { server: `127.0.0.1:${port}`, close: () => server.close() };
}
