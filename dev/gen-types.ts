// npm run gen:types [-- --check] – supabase/database.types.ts from the migrations, as `supabase gen types typescript` writes it
import { readFileSync, writeFileSync } from "node:fs";
import { generateTypes, typesFile, typesPath } from "./types/generate";

const check = process.argv.includes("--check");
const generated = await generateTypes();
let current: string | undefined;
try {
  current = readFileSync(typesFile, "utf8");
} catch {
  current = undefined;
}

if (check) {
  if (current !== generated) {
    const lines = (text: string | undefined) => (text ?? "").split("\n");
    const [now, want] = [lines(current), lines(generated)];
    const first = want.findIndex((line, index) => line !== now[index]);
    const at = first === -1 ? want.length : first;
    console.error(
      current === undefined
        ? `${typesPath} is missing. Run \`npm run gen:types\` and commit it.`
        : `${typesPath} is stale: the migrations give different types (first difference at line ${at + 1}:\n` +
            `  checked in: ${now[at] ?? "(end of file)"}\n  generated:  ${want[at] ?? "(end of file)"}).\n` +
            "Run `npm run gen:types` and commit the result.",
    );
    process.exit(1);
  }
  console.log(`${typesPath} matches the migrations.`);
} else if (current === generated) {
  console.log(`${typesPath} is up to date.`);
} else {
  writeFileSync(typesFile, generated);
  console.log(`Wrote ${typesPath}.`);
}
