/** Module resolve hooks of load-trace.ts (they run on the loader thread). */
const seen = new Set<string>();

type Resolve = (specifier: string, context: { parentURL?: string }) => Promise<{ url: string }>;

export async function resolve(specifier: string, context: { parentURL?: string }, next: Resolve): Promise<{ url: string }> {
  const r = await next(specifier, context);
  const m = /\/node_modules\/((?:@[^/]+\/)?[^/]+)\/(.*)$/.exec(r.url);
  if (m && !seen.has(r.url)) {
    seen.add(r.url);
    process.stderr.write(`talon-load-trace ${m[1]} ${m[2]}\n`);
  }
  return r;
}
