/**
 * The child process of the cold-start bench (bundled once into bench/.build): imports one built
 * function, serves it its probe request, prints the status, and with `--chromium` then unpacks the
 * function's own Chromium into TMPDIR, as the scrape worker's first launch does.
 */
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { type FunctionModule, probe } from "../dev/probes";

const [entry = "", name = "", flag] = process.argv.slice(2);
const module = (await import(pathToFileURL(entry).href)) as FunctionModule;
const answer = await probe(module, name);
let unpackedTo: string | undefined;
if (flag === "--chromium") {
  const packageEntry = join(
    entry,
    "..",
    "node_modules",
    "@sparticuz",
    "chromium",
    "build",
    "esm",
    "index.js",
  );
  const chromium = (await import(pathToFileURL(packageEntry).href)).default as {
    executablePath(): Promise<string>;
  };
  unpackedTo = await chromium.executablePath();
}
process.stdout.write(`${JSON.stringify({ status: answer.status, method: answer.method, unpackedTo })}\n`);
process.exit(0);
