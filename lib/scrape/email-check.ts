import { dnsResolver } from "../dns";
import { isRoleAddress } from "./contacts";

export interface EmailCheck {
  address: string;
  syntax: boolean;
  /** Whether the domain publishes MX records (null: the lookup itself failed, so unknown). */
  mx: boolean | null;
  role: boolean;
}

const syntax = /^[a-z0-9._%+-]{1,64}@(?=.{1,253}$)(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,24}$/i;

/** Syntax, MX records of the domain (cached per domain for the run), and shared-inbox flag. */
export async function checkEmails(
  addresses: string[],
  lookupMx: (domain: string) => Promise<{ exchange: string }[]> = mxLookup(),
): Promise<EmailCheck[]> {
  const domains = new Map<string, Promise<boolean | null>>();
  const mxOf = (domain: string) => {
    let found = domains.get(domain);
    if (!found) {
      found = lookupMx(domain).then(
        (records) => records.some((record) => record.exchange && record.exchange !== "."),
        (error: NodeJS.ErrnoException) =>
          error.code === "ENOTFOUND" || error.code === "ENODATA" ? false : null,
      );
      domains.set(domain, found);
    }
    return found;
  };
  return Promise.all(
    addresses.map(async (address) => {
      const valid = syntax.test(address);
      return {
        address,
        syntax: valid,
        mx: valid ? await mxOf(address.split("@")[1]?.toLowerCase() ?? "") : false,
        role: isRoleAddress(address),
      };
    }),
  );
}

/** MX lookups through the one resolver (`DNS_SERVERS` when set). */
export function mxLookup(): (domain: string) => Promise<{ exchange: string }[]> {
  const resolver = dnsResolver();
  return (domain) => resolver.resolveMx(domain);
}
