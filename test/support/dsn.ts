import { readFileSync } from "node:fs";
import { join } from "node:path";

/** A bounce fixture (test/fixtures/dsn) addressed to one recipient about one Message-ID, with CRLF. */
export function dsnFixture(name: string, recipient: string, messageId: string): string {
  return readFileSync(join(__dirname, "../fixtures/dsn", name), "utf8")
    .replaceAll("{{RECIPIENT}}", recipient)
    .replaceAll("{{MESSAGE_ID}}", messageId.replace(/^<|>$/g, ""))
    .replace(/\r?\n/g, "\r\n");
}

/** The fixture as the stand-in Gmail account receives it: its top-level headers, snippet and whole text. */
export function dsnArrival(name: string, recipient: string, messageId: string, threadId: string) {
  const mime = dsnFixture(name, recipient, messageId);
  const head = mime.split("\r\n\r\n")[0] ?? "";
  const headers: Record<string, string> = {};
  for (const line of head.replace(/\r\n[ \t]+/g, " ").split("\r\n")) {
    const colon = line.indexOf(":");
    if (colon > 0) {
      headers[line.slice(0, colon)] = line.slice(colon + 1).trim();
    }
  }
  return { threadId, headers, snippet: headers.Subject ?? "", mime };
}
