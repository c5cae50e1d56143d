// mailauth ships types for its public API only; these two internals (a DKIM key record lookup and
// validation, and DMARC record discovery with the organisational-domain fallback) are what the
// sending-domain check needs without a message to verify. Shapes as the modules define them.
declare module "mailauth/lib/tools.js" {
  export function getPublicKey(
    type: "DKIM",
    name: string,
    minBitLength: number,
    resolver: (name: string, type: string) => Promise<unknown>,
  ): Promise<{ publicKey: Buffer; rr: string; modulusLength?: number }>;
}
declare module "mailauth/lib/dmarc/get-dmarc-record.js" {
  function getDmarcRecord(
    domain: string,
    resolver: (name: string, type: string) => Promise<unknown>,
  ): Promise<false | { p?: string; rr?: string; v?: string }>;
  export = getDmarcRecord;
}
