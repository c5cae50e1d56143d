/**
 * Cold start as deployed: `npm run build`'s output (bench/.build/output, the same build as
 * .vercel/output), each function in a fresh Node process from spawn to the complete answer of its
 * handler to its probe request (dev/probes.ts: the function's own method and URL, no credentials,
 * answered by the real route wrapper and checks), against the same for a trivial handler bundled
 * the same way (the floor), in one run. Reported as the median of N fresh processes and the ratio
 * to the floor; the scrape worker also with its Chromium unpacked into an empty TMPDIR.
 */
import { spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { build } from "esbuild";
import { buildOutput, bundleOptions, directorySize } from "../dev/build";
import { percentile, round } from "./stats";

const root = join(import.meta.dirname, "..");
const buildDir = join(root, "bench", ".build");

const median = (values: number[]) => percentile(values, 50);

/** Goals of issue-sized budgets: request-path functions within 2.5× the floor, agents and workers 4×. */
export function coldStartGoal(name: string): number | undefined {
  if (/^api\/(webhook|cron)\//.test(name) || /^api\/(tasks|leads|insights|campaigns|alerts)\//.test(name)) {
    return 2.5;
  }
  if (name === "api/health") {
    return 2.5;
  }
  if (/^api\/(agents|workers)\//.test(name)) {
    return 4;
  }
  return undefined;
}

interface Sample {
  ms: number;
  status: number;
  method: string;
}

/** One fresh process: spawn → the child's line saying its handler answered. */
function coldStart(child: string, entry: string, name: string, env: NodeJS.ProcessEnv, flag?: string) {
  return new Promise<Sample>((resolve, reject) => {
    const started = performance.now();
    const proc = spawn(process.execPath, [child, entry, name, ...(flag ? [flag] : [])], {
      env,
      cwd: root,
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    let err = "";
    proc.stdout.on("data", (chunk: Buffer) => {
      out += chunk.toString();
      const line = out.split("\n")[0];
      if (out.includes("\n") && line) {
        const ms = performance.now() - started;
        const answer = JSON.parse(line) as { status: number; method: string };
        proc.kill();
        resolve({ ms, status: answer.status, method: answer.method });
      }
    });
    proc.stderr.on("data", (chunk: Buffer) => {
      err += chunk.toString();
    });
    proc.on("exit", (code) => {
      if (!out.includes("\n")) {
        reject(new Error(`${name}: the child exited (${code}) without an answer: ${err.slice(0, 2000)}`));
      }
    });
  });
}

export interface ColdStartRow {
  function: string;
  probe: string;
  status: number;
  cold_start_ms: number;
  ratio: number;
  goal: string;
  meets: string;
  bundle_mb: number;
}

export async function benchColdStart(options: { env: NodeJS.ProcessEnv; samples: number }) {
  const outDir = join(buildDir, "output");
  const buildStarted = performance.now();
  const output = await buildOutput({ outDir });
  const buildMs = performance.now() - buildStarted;

  // The child, and the floor: a handler that answers at once, through the same bundling.
  const child = join(buildDir, "cold-start-child.mjs");
  await build({
    ...bundleOptions,
    entryPoints: [join(root, "bench", "cold-start-child.ts")],
    outfile: child,
  });
  const floorSource = join(buildDir, "floor.ts");
  mkdirSync(buildDir, { recursive: true });
  writeFileSync(
    floorSource,
    [
      'export const GET = async () => new Response("ok");',
      'export const OPTIONS = async () => new Response(null, { status: 204, headers: { allow: "GET, OPTIONS" } });',
    ].join("\n"),
  );
  const floorEntry = join(buildDir, "floor.func", "index.mjs");
  await build({ ...bundleOptions, entryPoints: [floorSource], outfile: floorEntry });

  const floorSamples: number[] = [];
  const sampleFloor = async () => {
    for (let i = 0; i < options.samples; i++) {
      floorSamples.push((await coldStart(child, floorEntry, "floor", options.env)).ms);
    }
  };
  // The floor before and after the functions, so drift in the machine's load shows in both.
  await sampleFloor();
  const measured: { name: string; ms: number; sample: Sample; bytes: number }[] = [];
  for (const fn of output.functions) {
    const samples: Sample[] = [];
    for (let i = 0; i < options.samples; i++) {
      samples.push(await coldStart(child, fn.entry, fn.name, options.env));
    }
    measured.push({
      name: fn.name,
      ms: median(samples.map((s) => s.ms)),
      sample: samples[0] as Sample,
      bytes: directorySize(fn.dir).bytes,
    });
  }
  await sampleFloor();
  const floor = median(floorSamples);

  const rows: ColdStartRow[] = measured.map((m) => {
    const ratio = m.ms / floor;
    const goal = coldStartGoal(m.name);
    return {
      function: m.name,
      probe: m.sample.method,
      status: m.sample.status,
      cold_start_ms: round(m.ms),
      ratio: round(ratio, 2),
      goal: goal ? `≤ ${goal}×` : "",
      meets: goal ? (ratio <= goal ? "yes" : "NO") : "",
      bundle_mb: round(m.bytes / 1e6, 2),
    };
  });

  // The scrape worker's first launch also unpacks Chromium (brotli) into TMPDIR.
  const scrape = output.functions.find((fn) => fn.name === "api/workers/scrape");
  let scrapeWithUnpack: number | undefined;
  if (scrape) {
    const samples: number[] = [];
    for (let i = 0; i < options.samples; i++) {
      const tmp = mkdtempSync(join(tmpdir(), "aat-cold-chromium-"));
      try {
        samples.push(
          (await coldStart(child, scrape.entry, scrape.name, { ...options.env, TMPDIR: tmp }, "--chromium"))
            .ms,
        );
      } finally {
        rmSync(tmp, { recursive: true, force: true });
      }
    }
    scrapeWithUnpack = median(samples);
  }
  rmSync(outDir, { recursive: true, force: true });
  return {
    build_ms: round(buildMs),
    samples_per_function: options.samples,
    floor_ms: round(floor),
    functions: rows,
    scrape_worker: scrape
      ? {
          cold_start_ms: rows.find((row) => row.function === scrape.name)?.cold_start_ms,
          with_chromium_unpack_ms: round(scrapeWithUnpack ?? 0),
          ratio_with_unpack: round((scrapeWithUnpack ?? 0) / floor, 2),
        }
      : undefined,
  };
}
