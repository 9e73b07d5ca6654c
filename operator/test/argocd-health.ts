/**
 * Runs config/argocd/health.lua as Argo CD does — the object in the global `obj`, the
 * script's returned table read for `status` and `message` — with Debian's `lua5.1` (Argo CD
 * embeds gopher-lua, a Lua 5.1; `make system-packages` installs it). The object goes in as a
 * Lua table literal, JSON null becoming an absent key as in Argo CD's conversion.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Repository root (this file runs from dist/operator/test/). */
const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
export const HEALTH_LUA = join(repoRoot, 'config', 'argocd', 'health.lua');

export interface Health {
  readonly status: string;
  readonly message: string;
}

/** A Lua 5.1 string literal: printable ASCII as is, every other byte as a decimal escape. */
function luaString(s: string): string {
  let out = '"';
  for (const byte of Buffer.from(s, 'utf8')) {
    const c = String.fromCharCode(byte);
    out += byte >= 0x20 && byte < 0x7f && c !== '"' && c !== '\\' ? c : `\\${byte}`;
  }
  return `${out}"`;
}

/** A Lua table constructor for a JSON value (arrays as sequences, objects with string keys). */
export function toLua(v: unknown): string {
  if (v === null || v === undefined) return 'nil';
  if (typeof v === 'string') return luaString(v);
  if (typeof v === 'number') {
    if (!Number.isFinite(v)) throw new Error(`toLua: ${v} is not a JSON number`);
    return String(v);
  }
  if (typeof v === 'boolean') return String(v);
  if (Array.isArray(v)) return `{${v.map(toLua).join(', ')}}`;
  if (typeof v === 'object') {
    const fields = Object.entries(v as Record<string, unknown>)
      .filter(([, x]) => x !== null && x !== undefined)
      .map(([k, x]) => `[${luaString(k)}] = ${toLua(x)}`);
    return `{${fields.join(', ')}}`;
  }
  throw new Error(`toLua: unsupported ${typeof v}`);
}

/** The health Argo CD would show for `obj` (a JSON object as the API server returns it). */
export function argoHealth(obj: unknown, script: string = readFileSync(HEALTH_LUA, 'utf8')): Health {
  const program = [
    `obj = ${toLua(obj)}`,
    'local hs = (function()',
    script,
    'end)()',
    'io.write(tostring(hs.status), "\\n", tostring(hs.message or ""))',
  ].join('\n');
  const r = spawnSync('lua5.1', ['-'], { input: program, encoding: 'utf8' });
  if (r.error) throw new Error(`lua5.1: ${r.error.message} (install it with 'make system-packages')`);
  if (r.status !== 0) throw new Error(`lua5.1 failed: ${r.stderr}`);
  const nl = r.stdout.indexOf('\n');
  return { status: r.stdout.slice(0, nl), message: r.stdout.slice(nl + 1) };
}
