/**
 * A text summary of a V8 CPU profile (`node --cpu-prof`), for bench/profiles/.
 *
 *   node dist/bench/profile-summary.js PROFILE.cpuprofile [--top N] [--title TEXT]
 *
 * Prints the busy time (samples that are not `(idle)`), then the top N by self time per
 * function, by self time per place (our source files, packages under node_modules, Node's own
 * modules, GC), and by inclusive ("total") time per function of our own code: what a flame
 * graph shows, as text that diffs and reviews.
 */
import { readFileSync } from 'node:fs';

interface ProfileNode {
  readonly id: number;
  readonly callFrame: { readonly functionName: string; readonly url: string; readonly lineNumber: number };
  readonly children?: readonly number[];
}
interface Profile {
  readonly nodes: readonly ProfileNode[];
  readonly startTime: number;
  readonly endTime: number;
  readonly samples: readonly number[];
  readonly timeDeltas: readonly number[];
}

/** Where a frame's code lives: our file (relative to dist/), a package, node:…, or a V8 pseudo-frame. */
export function placeOf(url: string, functionName: string): string {
  if (url === '') return functionName.startsWith('(') ? functionName : '(native)';
  const nm = url.lastIndexOf('/node_modules/');
  if (nm !== -1) {
    const rest = url.slice(nm + 14).split('/');
    return rest[0]!.startsWith('@') ? `${rest[0]}/${rest[1]}` : rest[0]!;
  }
  if (url.startsWith('node:')) return url;
  const dist = url.indexOf('/dist/');
  return dist !== -1 ? url.slice(dist + 6) : url;
}

export function summarise(profile: Profile, top = 25): string {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const selfMicros = new Map<number, number>();
  for (let i = 0; i < profile.samples.length; i++) {
    const id = profile.samples[i]!;
    selfMicros.set(id, (selfMicros.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0));
  }
  const key = (n: ProfileNode): string => `${n.callFrame.functionName || '(anonymous)'}  ${placeOf(n.callFrame.url, n.callFrame.functionName)}:${n.callFrame.lineNumber + 1}`;
  const selfByFn = new Map<string, number>();
  const selfByPlace = new Map<string, number>();
  const totalByOurFn = new Map<string, number>();
  let total = 0;
  let idle = 0;
  for (const [id, us] of selfMicros) {
    const n = byId.get(id)!;
    total += us;
    if (n.callFrame.functionName === '(idle)') {
      idle += us;
      continue;
    }
    selfByFn.set(key(n), (selfByFn.get(key(n)) ?? 0) + us);
    const place = placeOf(n.callFrame.url, n.callFrame.functionName);
    selfByPlace.set(place, (selfByPlace.get(place) ?? 0) + us);
    // Inclusive time for our own functions: each distinct function once per stack.
    const seen = new Set<string>();
    for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
      const f = byId.get(at)!;
      if (!f.callFrame.url.includes('/dist/') || f.callFrame.url.includes('/node_modules/')) continue;
      const k = key(f);
      if (seen.has(k)) continue;
      seen.add(k);
      totalByOurFn.set(k, (totalByOurFn.get(k) ?? 0) + us);
    }
  }
  const busy = total - idle;
  const pct = (us: number): string => `${((100 * us) / busy).toFixed(1).padStart(5)} %`;
  const ms = (us: number): string => `${(us / 1000).toFixed(0).padStart(7)} ms`;
  const table = (title: string, m: Map<string, number>): string[] => [
    `\n${title}`,
    ...[...m]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([k, us]) => `${ms(us)} ${pct(us)}  ${k}`),
  ];
  return [
    `profiled ${((profile.endTime - profile.startTime) / 1e6).toFixed(1)} s; busy ${(busy / 1e6).toFixed(2)} s (${((100 * busy) / total).toFixed(0)} %), idle ${(idle / 1e6).toFixed(2)} s; percentages of busy time`,
    ...table('self time by place', selfByPlace),
    ...table('self time by function', selfByFn),
    ...table('inclusive time, our functions', totalByOurFn),
  ].join('\n');
}

if (process.argv[1]?.endsWith('profile-summary.js')) {
  const args = process.argv.slice(2);
  const file = args.find((a) => !a.startsWith('--') && args[args.indexOf(a) - 1] !== '--top' && args[args.indexOf(a) - 1] !== '--title');
  if (file === undefined) {
    console.error('usage: node dist/bench/profile-summary.js PROFILE.cpuprofile [--top N] [--title TEXT]');
    process.exit(2);
  }
  const topAt = args.indexOf('--top');
  const titleAt = args.indexOf('--title');
  if (titleAt !== -1) console.log(`# ${args[titleAt + 1]}\n`);
  console.log(summarise(JSON.parse(readFileSync(file, 'utf8')) as Profile, topAt === -1 ? 25 : Number(args[topAt + 1])));
}
