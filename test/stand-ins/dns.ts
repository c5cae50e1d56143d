import dns2 from "dns2";

const { Packet } = dns2;

/** TXT and A records beside the MX ones: the sending-domain checks read SPF, DKIM and DMARC. */
export interface DnsZone {
  txt?: Record<string, string[]>;
  a?: Record<string, string[]>;
}

/**
 * A DNS server on loopback: the domains given have MX records, the zone's names their TXT and A
 * records; a name with none of them is NXDOMAIN (as the public DNS answers for a made-up domain),
 * a name that has other records answers NODATA. Real DNS over UDP, reached through `DNS_SERVERS`,
 * so the production lookup code runs unchanged. A TXT value longer than 255 octets is split into
 * character-strings (RFC 1035 §3.3.14), as DKIM keys are published.
 */
export async function startDnsStandIn(
  mx: Record<string, string>,
  zone: DnsZone = {},
): Promise<{ server: string; close(): Promise<void> }> {
  const lower = (records: Record<string, string[]> = {}) =>
    new Map(Object.entries(records).map(([name, values]) => [name.toLowerCase(), values]));
  const txt = lower(zone.txt);
  const a = lower(zone.a);
  const server = dns2.createServer({
    udp: true,
    handle: (request, send) => {
      const response = Packet.createResponseFromRequest(request);
      const [question] = request.questions;
      const name = (question?.name ?? "").toLowerCase();
      const exchange = mx[name];
      const exists = Boolean(exchange) || txt.has(name) || a.has(name);
      const base = { name: question?.name ?? "", class: Packet.CLASS.IN, ttl: 300 };
      if (question?.type === Packet.TYPE.MX && exchange) {
        response.answers.push({ ...base, type: Packet.TYPE.MX, exchange, priority: 10 } as never);
      } else if (question?.type === Packet.TYPE.TXT && txt.has(name)) {
        for (const value of txt.get(name) ?? []) {
          const chunks = value.match(/[\s\S]{1,255}/g) ?? [""];
          response.answers.push({ ...base, type: Packet.TYPE.TXT, data: chunks } as never);
        }
      } else if (question?.type === Packet.TYPE.A && a.has(name)) {
        for (const address of a.get(name) ?? []) {
          response.answers.push({ ...base, type: Packet.TYPE.A, address } as never);
        }
      } else if (!exists) {
        response.header.rcode = Packet.RCODE.NXDOMAIN;
      }
      send(response);
    },
  });
  const addresses = await server.listen({ udp: { port: 0, address: "127.0.0.1" } });
  const port = (addresses as { udp?: { port: number } }).udp?.port;
  return { server: `127.0.0.1:${port}`, close: () => server.close() };
}
