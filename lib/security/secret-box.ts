import { createCipheriv, createDecipheriv, randomBytes } from "node:crypto";
import { getConfig } from "../config";

/**
 * Secrets at rest (OAuth refresh tokens): AES-256-GCM under TOKEN_ENCRYPTION_KEY, whose first key
 * encrypts and any decrypts, so keys rotate by putting a new one first. The ciphertext names its key
 * id and is bound to `context` (the row it belongs to) as associated data, so a ciphertext copied
 * onto another row does not decrypt.
 */
const version = "v1";

export interface Sealed {
  ciphertext: string;
  keyId: string;
}

export function seal(plaintext: string, context: string): Sealed {
  const [current] = getConfig().TOKEN_ENCRYPTION_KEY;
  if (!current) {
    throw new Error("TOKEN_ENCRYPTION_KEY has no key");
  }
  const iv = randomBytes(12);
  const cipher = createCipheriv("aes-256-gcm", current.key, iv);
  cipher.setAAD(Buffer.from(`${version}.${current.id}.${context}`));
  const body = Buffer.concat([cipher.update(plaintext, "utf8"), cipher.final()]);
  const tag = cipher.getAuthTag();
  return {
    ciphertext: [
      version,
      current.id,
      iv.toString("base64url"),
      tag.toString("base64url"),
      body.toString("base64url"),
    ].join("."),
    keyId: current.id,
  };
}

/** The plaintext, or undefined when the key is gone, the context differs or the bytes were altered. */
export function open(ciphertext: string, context: string): string | undefined {
  return openWith(getConfig().TOKEN_ENCRYPTION_KEY, ciphertext, context);
}

/** `open` under a given key set (the configured one, or another to show it does not open). */
export function openWith(
  keys: readonly { id: string; key: Buffer }[],
  ciphertext: string,
  context: string,
): string | undefined {
  const [v, keyId, iv, tag, body, extra] = ciphertext.split(".");
  if (v !== version || !keyId || !iv || !tag || body === undefined || extra !== undefined) {
    return undefined;
  }
  const entry = keys.find((candidate) => candidate.id === keyId);
  if (!entry) {
    return undefined;
  }
  try {
    // A 16-byte tag only: GCM would otherwise accept a truncated one.
    const decipher = createDecipheriv("aes-256-gcm", entry.key, Buffer.from(iv, "base64url"), {
      authTagLength: 16,
    });
    decipher.setAAD(Buffer.from(`${version}.${keyId}.${context}`));
    decipher.setAuthTag(Buffer.from(tag, "base64url"));
    return Buffer.concat([decipher.update(Buffer.from(body, "base64url")), decipher.final()]).toString(
      "utf8",
    );
  } catch {
    return undefined;
  }
}
