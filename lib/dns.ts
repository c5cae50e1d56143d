import { Resolver } from "node:dns/promises";
import { getConfig } from "./config";

/**
 * The one DNS resolver: the servers of `DNS_SERVERS` when set (host or host:port), else the
 * system's. MX checks of found addresses and the sending-domain checks both go through it.
 */
export function dnsResolver(serverList = getConfig().DNS_SERVERS): Resolver {
  const resolver = new Resolver({ timeout: 2000, tries: 2 });
  const servers = (serverList ?? "")
    .split(",")
    .map((server) => server.trim())
    .filter(Boolean);
  if (servers.length > 0) {
    resolver.setServers(servers);
  }
  return resolver;
}
