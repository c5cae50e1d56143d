import { Readability } from "@mozilla/readability";
import { parseHTML } from "linkedom";
import TurndownService from "turndown";
import { jsonProblem } from "../json";

export interface PageContent {
  title: string | null;
  /** The page's main content (navigation, footers and ads left out) as Markdown. */
  markdown: string;
  /** Absolute http(s) links with their text, in page order, without repeats. */
  links: { url: string; text: string }[];
  /** The page's JSON-LD blocks, parsed (malformed ones left out). */
  jsonLd: unknown[];
}

const turndown = new TurndownService({
  headingStyle: "atx",
  codeBlockStyle: "fenced",
  bulletListMarker: "-",
});
turndown.remove(["script", "style", "noscript", "iframe", "form"]);

/** Main content with Readability, converted with turndown; the whole body when Readability finds none. */
export function pageContent(html: string, pageUrl: string): PageContent {
  const { document } = parseHTML(html);
  const links = new Map<string, string>();
  for (const anchor of document.querySelectorAll("a[href]")) {
    try {
      const url = new URL(anchor.getAttribute("href") ?? "", pageUrl);
      if ((url.protocol === "http:" || url.protocol === "https:") && !links.has(url.toString())) {
        url.hash = "";
        links.set(url.toString(), (anchor.textContent ?? "").replace(/\s+/g, " ").trim().slice(0, 200));
      }
    } catch {
      // not a URL
    }
  }
  const jsonLd: unknown[] = [];
  for (const script of document.querySelectorAll('script[type="application/ld+json"]')) {
    try {
      const block: unknown = JSON.parse(script.textContent ?? "");
      // Too deep to walk (or to store as jsonb), or holding a NUL: not data a person would read.
      if (!jsonProblem(block)) {
        jsonLd.push(block);
      }
    } catch {
      // a malformed block is not data
    }
  }
  const title = document.querySelector("title")?.textContent?.trim() || null;
  const article = new Readability(parseHTML(html).document as unknown as Document, {
    charThreshold: 200,
  }).parse();
  const source = article?.content ?? document.body?.innerHTML ?? "";
  return {
    title: article?.title?.trim() || title,
    markdown: turndown
      .turndown(source)
      .replace(/\n{3,}/g, "\n\n")
      .trim(),
    links: [...links.entries()].map(([url, text]) => ({ url, text })),
    jsonLd,
  };
}
