import { lookup as dnsLookup, type LookupAddress, type LookupOptions } from "node:dns";
import { Agent, buildConnector, fetch } from "undici";
import { assertPublicUrl, BlockedAddressError, type GuardOptions, isPublicAddress } from "./address-guard";

/**
 * The one way the scraper reaches the web. Every request, the browser's included, goes through it:
 * the URL is checked (scheme, port, names, literal addresses in any encoding), and the socket only
 * connects to the addresses the name resolved to *at connect time* if they are all public, so a
 * name that re-resolves to 127.0.0.1 after the check (DNS rebinding) is still refused.
 */
export class FetchLimitError extends Error {
  constructor(
    readonly url: string,
    readonly kind: "too_large" | "timeout",
  ) {
    super(kind === "too_large" ? `${url} is larger than the size cap` : `${url} timed out`);
    this.name = "FetchLimitError";
  }
}

export interface FetchedResponse {
  url: string;
  status: number;
  headers: Headers;
  body: Buffer;
  ms: number;
}

export interface FetcherOptions {
  userAgent: string;
  maxBytes: number;
  timeoutMs: number;
  /** Exact `host:port` pairs let through: the tests' own fixture sites. Production has none. */
  allow?: ReadonlySet<string>;
  /** The pre-flight name check's resolver (tests stand in a rebinding name with it). */
  resolve?: GuardOptions["resolve"];
}

export interface FetchRequest {
  method?: string;
  headers?: Record<string, string>;
  body?: Buffer | null;
}

type LookupCallback = (
  error: NodeJS.ErrnoException | null,
  address: string | LookupAddress[],
  family?: number,
) => void;

/** `dns.lookup` that refuses a name if any address it resolves to is not public. */
function publicOnlyLookup(hostname: string, options: LookupOptions, callback: LookupCallback): void {
  dnsLookup(hostname, { ...options, all: true }, (error, addresses) => {
    if (error) {
      callback(error, []);
      return;
    }
    const internal = addresses.find((entry) => !isPublicAddress(entry.address));
    if (internal || addresses.length === 0) {
      const blocked = new BlockedAddressError(
        hostname,
        `resolves to a non-public address (${internal?.address ?? "none"})`,
      ) as BlockedAddressError & NodeJS.ErrnoException;
      blocked.code = "EBLOCKED";
      callback(blocked, []);
      return;
    }
    if (options.all) {
      callback(null, addresses);
    } else {
      callback(null, addresses[0]?.address ?? "", addresses[0]?.family);
    }
  });
}

/** Headers the transport sets itself, or that must not be forwarded from the browser. */
const hopByHop = new Set([
  "host",
  "connection",
  "content-length",
  "transfer-encoding",
  "keep-alive",
  "upgrade",
  "proxy-connection",
  "accept-encoding",
  "te",
  "trailer",
]);

export interface GuardedFetcher {
  /** One request, redirects not followed (each hop is a new, separately checked request). */
  fetch(url: string, request?: FetchRequest): Promise<FetchedResponse>;
  /** Follows at most `maxHops` redirects, every hop a new checked request (GET after the first). */
  fetchFollowing(url: string, request?: FetchRequest, maxHops?: number): Promise<FetchedResponse>;
  close(): Promise<void>;
}

export function createGuardedFetcher(options: FetcherOptions): GuardedFetcher {
  const allow = options.allow ?? new Set<string>();
  const guarded = buildConnector({ lookup: publicOnlyLookup } as buildConnector.BuildOptions);
  const direct = buildConnector({});
  const dispatcher = new Agent({
    connect: (connectOptions, callback) => {
      const port = connectOptions.port || (connectOptions.protocol === "https:" ? "443" : "80");
      const host = connectOptions.hostname.replace(/^\[|\]$/g, "");
      return allow.has(`${host}:${port}`)
        ? direct(connectOptions, callback)
        : guarded(connectOptions, callback);
    },
    headersTimeout: options.timeoutMs,
    bodyTimeout: options.timeoutMs,
    connections: 4,
  });

  async function fetchOnce(url: string, request: FetchRequest = {}): Promise<FetchedResponse> {
    await assertPublicUrl(url, { allow, ...(options.resolve ? { resolve: options.resolve } : {}) });
    const started = Date.now();
    const headers: Record<string, string> = {};
    for (const [name, value] of Object.entries(request.headers ?? {})) {
      if (!hopByHop.has(name.toLowerCase()) && !name.startsWith(":")) {
        headers[name] = value;
      }
    }
    headers["user-agent"] = options.userAgent;
    const signal = AbortSignal.timeout(options.timeoutMs);
    let response: Awaited<ReturnType<typeof fetch>>;
    try {
      response = await fetch(url, {
        method: request.method ?? "GET",
        headers,
        body: request.body && request.body.length > 0 ? request.body : null,
        redirect: "manual",
        dispatcher,
        signal,
      });
    } catch (error) {
      throw unwrap(error, url, signal);
    }
    const declared = Number(response.headers.get("content-length") ?? "0");
    if (declared > options.maxBytes) {
      await response.body?.cancel();
      throw new FetchLimitError(url, "too_large");
    }
    const chunks: Buffer[] = [];
    let size = 0;
    try {
      for await (const chunk of response.body ?? []) {
        size += chunk.byteLength;
        if (size > options.maxBytes) {
          throw new FetchLimitError(url, "too_large");
        }
        chunks.push(Buffer.from(chunk));
      }
    } catch (error) {
      throw unwrap(error, url, signal);
    }
    return {
      url,
      status: response.status,
      headers: response.headers as unknown as Headers,
      body: Buffer.concat(chunks),
      ms: Date.now() - started,
    };
  }

  return {
    fetch: fetchOnce,
    async fetchFollowing(url, request = {}, maxHops = 5) {
      let current = url;
      let next: FetchRequest = request;
      for (let hop = 0; ; hop++) {
        const response = await fetchOnce(current, next);
        const location = response.headers.get("location");
        if (response.status < 300 || response.status >= 400 || !location) {
          return response;
        }
        if (hop >= maxHops) {
          throw new BlockedAddressError(url, `more than ${maxHops} redirects`);
        }
        current = new URL(location, current).toString();
        next = { ...(request.headers ? { headers: request.headers } : {}) };
      }
    },
    close: () => dispatcher.close(),
  };
}

/** The error that explains a failed fetch: the guard's, the size cap, the timeout, or the network's. */
function unwrap(error: unknown, url: string, signal: AbortSignal): Error {
  let current: unknown = error;
  for (let depth = 0; current && depth < 5; depth++) {
    if (current instanceof BlockedAddressError || current instanceof FetchLimitError) {
      return current;
    }
    current = (current as { cause?: unknown }).cause;
  }
  if (signal.aborted || (error as { name?: string }).name === "TimeoutError") {
    return new FetchLimitError(url, "timeout");
  }
  const cause = (error as { cause?: { code?: string } }).cause;
  if (cause?.code === "UND_ERR_HEADERS_TIMEOUT" || cause?.code === "UND_ERR_BODY_TIMEOUT") {
    return new FetchLimitError(url, "timeout");
  }
  return error instanceof Error ? error : new Error(String(error));
}
