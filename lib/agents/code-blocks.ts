export interface CodeBlock {
  language: string | null;
  code: string;
  /** ok / error: parsed (JS, TS, JSX, TSX, JSON); not_checked: another language; untagged: no language. */
  check: "ok" | "error" | "not_checked" | "untagged";
  error?: string;
}

const fence = /^```[ \t]*([\w+#.-]*)[^\n]*\n([\s\S]*?)^```[ \t]*$/gm;

const loaders: Record<string, "js" | "ts" | "jsx" | "tsx"> = {
  js: "js",
  javascript: "js",
  mjs: "js",
  cjs: "js",
  node: "js",
  ts: "ts",
  typescript: "ts",
  jsx: "jsx",
  tsx: "tsx",
};

/** Fenced blocks of a Markdown answer, each JavaScript/TypeScript/JSON one checked to parse. */
export async function checkCodeBlocks(markdown: string): Promise<CodeBlock[]> {
  const blocks: CodeBlock[] = [];
  for (const match of markdown.matchAll(fence)) {
    const language = (match[1] ?? "").toLowerCase() || null;
    const code = match[2] ?? "";
    if (!language) {
      blocks.push({ language, code, check: "untagged" });
      continue;
    }
    if (language === "json" || language === "jsonc") {
      try {
        JSON.parse(code);
        blocks.push({ language, code, check: "ok" });
      } catch (error) {
        blocks.push({ language, code, check: "error", error: (error as Error).message });
      }
      continue;
    }
    const loader = loaders[language];
    if (!loader) {
      blocks.push({ language, code, check: "not_checked" });
      continue;
    }
    // esbuild parses (and type-strips) without running anything; loaded only when there is code to check.
    const { transform } = await import("esbuild");
    try {
      await transform(code, { loader, logLevel: "silent" });
      blocks.push({ language, code, check: "ok" });
    } catch (error) {
      const first = (error as { errors?: { text: string; location?: { line: number; column: number } }[] })
        .errors?.[0];
      blocks.push({
        language,
        code,
        check: "error",
        error: first
          ? `${first.text}${first.location ? ` (line ${first.location.line}:${first.location.column})` : ""}`
          : String(error),
      });
    }
  }
  return blocks;
}
