/**
 * How alert fields reach a command run in a container (kubernetes:exec, kubernetes:script):
 * ONLY as environment variables of the executed process, each set by its own argv entry of
 * `env`:
 *
 *     ['env', '--', 'FD_NAME=<value>', 'PROC_ANAME_2=<value>', …, <the rule's argv…>]
 *
 * The command after them is the rule's, never the alert's; no alert text is ever spliced into
 * a command string, and the container runtime executes the argv without a shell. A script
 * that wants a field reads it as a quoted variable (`"$FD_NAME"`): the shell expands the
 * variable to its text and never re-parses that text as code. The operator's own environment
 * is never read: nothing of it can reach the command.
 *
 * Naming (Talon's, talon-compat §3.5): the field name upper-cased, every run of characters
 * other than A–Z and 0–9 replaced by one `_`, leading and trailing `_` dropped, then `prefix`
 * put in front (`fd.name` → `FD_NAME`, `proc.aname[2]` → `PROC_ANAME_2`, `k8s.pod.name` →
 * `K8S_POD_NAME`); a name that would start with a digit gets a leading `_`. The alert itself
 * gives `RULE`, `PRIORITY`, `SOURCE`, `HOSTNAME` and `TAGS` (comma-separated), prefixed too
 * (select them in `fields` as `rule`, `priority`, `source`, `hostname`, `tags`).
 *
 * Values are text: strings as they are; integers in decimal, exact beyond 2^53 (`evt.time`);
 * booleans `true`/`false`; a list of scalars joined with `,` (null items empty). Not passed
 * (and counted in the outcome message): null fields (unset, never a value from an earlier
 * alert), nested lists, values containing NUL (argv cannot carry it), values over
 * MAX_ENV_VALUE_BYTES, names that collide with one already set (fields in sorted order, the
 * alert's own variables first), names the dynamic loader or the shell interpret
 * (`isReservedEnvName`: `PATH`, `IFS`, `LD_PRELOAD`, …), and everything beyond
 * MAX_ENV_VARS variables or MAX_ENV_BYTES in total.
 */
import type { FalcoEvent, FieldValue } from '../../falco/event.js';

export const MAX_ENV_VARS = 256;
export const MAX_ENV_VALUE_BYTES = 4096;
export const MAX_ENV_BYTES = 65536;

/** A valid `envPrefix` parameter: empty, or an upper-case name start. */
export const ENV_PREFIX_PATTERN = '^([A-Z_][A-Z0-9_]{0,31})?$';

/** The variable name of alert field `key`; undefined when nothing alphanumeric is left. */
export function envNameOf(key: string, prefix = ''): string | undefined {
  const core = key
    .toUpperCase()
    .replace(/[^A-Z0-9]+/g, '_')
    .replace(/^_+|_+$/g, '');
  if (core === '') return undefined;
  const name = `${prefix}${core}`;
  return /^[0-9]/.test(name) ? `_${name}` : name;
}

const RESERVED_NAMES: ReadonlySet<string> = new Set([
  'PATH', 'IFS', 'ENV', 'BASH_ENV', 'HOME', 'SHELL', 'SHELLOPTS', 'BASHOPTS', 'PS1', 'PS2', 'PS3', 'PS4',
  'CDPATH', 'GLOBIGNORE', 'POSIXLY_CORRECT', 'TMPDIR', 'PWD', 'OLDPWD', 'OPTIND', 'OPTARG', 'PPID', 'UID', 'EUID',
  'LANG', 'LANGUAGE', 'NLSPATH', 'HOSTALIASES', 'LOCALDOMAIN', 'RES_OPTIONS', 'TZ', 'TZDIR', 'TERM', 'TERMINFO',
  'EDITOR', 'VISUAL', 'PAGER', 'MAIL', 'MAILPATH', 'HISTFILE', 'INPUTRC', 'PROMPT_COMMAND', 'FPATH', 'ZDOTDIR',
]);
const RESERVED_PREFIXES: readonly string[] = ['LD_', 'DYLD_', 'BASH_FUNC_', 'BASH_', 'LC_', 'GCONV_', 'MALLOC_', 'GLIBC_', 'PYTHON', 'PERL', 'RUBY', 'NODE_', 'JAVA_', '_JAVA', 'GIT_', 'SSL_', 'OPENSSL_'];

/**
 * True for names the dynamic loader, libc, shells or common interpreters read to change what a
 * process does (`LD_PRELOAD`, `PATH`, `IFS`, `BASH_ENV`, `PYTHONSTARTUP`, …): an alert may never
 * set them, whatever the prefix.
 */
export function isReservedEnvName(name: string): boolean {
  return RESERVED_NAMES.has(name) || RESERVED_PREFIXES.some((p) => name.startsWith(p));
}

/** A field value as variable text; undefined when it cannot be passed (null, nested list). */
export function envValueOf(v: FieldValue): string | undefined {
  if (v === null) return undefined;
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'bigint') return String(v);
  if (typeof v === 'boolean') return v ? 'true' : 'false';
  const parts: string[] = [];
  for (const item of v) {
    if (item === null) parts.push('');
    else if (Array.isArray(item)) return undefined;
    else parts.push(envValueOf(item as FieldValue) ?? '');
  }
  return parts.join(',');
}

/** The alert's own variables (not output fields: Falco field names always hold a dot). */
export const ALERT_VARIABLES: readonly string[] = ['rule', 'priority', 'source', 'hostname', 'tags'];

export interface EnvOptions {
  /** Put before every name ('' = Talon's names). Must match ENV_PREFIX_PATTERN. */
  readonly prefix?: string;
  /**
   * Only these: Falco field names and/or the alert's own variables (ALERT_VARIABLES); absent =
   * the alert's own variables and every output field of the alert.
   */
  readonly fields?: readonly string[];
  /** The action's additional contexts (`node.hostname`, `aws.region`, …), all set after the fields, names as for fields. */
  readonly contexts?: Readonly<Record<string, string>>;
}

export interface AlertEnv {
  /** `NAME=value` entries, in the order set. */
  readonly entries: readonly string[];
  /** Alert fields (or variables) that were not passed, with why. */
  readonly skipped: readonly { readonly field: string; readonly why: string }[];
}

/** The environment variables an alert gives a command (see the module doc for the rules). */
export function alertEnv(event: FalcoEvent, opts: EnvOptions = {}): AlertEnv {
  const prefix = opts.prefix ?? '';
  if (!new RegExp(ENV_PREFIX_PATTERN).test(prefix)) throw new Error(`envPrefix '${prefix}' is not an upper-case name prefix`);
  const entries: string[] = [];
  const skipped: { field: string; why: string }[] = [];
  const names = new Set<string>();
  let bytes = 0;
  const add = (field: string, name: string | undefined, value: string | undefined, whyNoValue = 'null or unsupported value'): void => {
    if (name === undefined) return void skipped.push({ field, why: 'no usable name' });
    if (value === undefined) return void skipped.push({ field, why: whyNoValue });
    if (isReservedEnvName(name)) return void skipped.push({ field, why: `reserved name ${name}` });
    if (names.has(name)) return void skipped.push({ field, why: `name ${name} already set` });
    if (value.includes('\0')) return void skipped.push({ field, why: 'value contains NUL' });
    const size = Buffer.byteLength(value) + name.length + 1;
    if (size - name.length - 1 > MAX_ENV_VALUE_BYTES) return void skipped.push({ field, why: `value over ${MAX_ENV_VALUE_BYTES} bytes` });
    if (entries.length >= MAX_ENV_VARS) return void skipped.push({ field, why: `more than ${MAX_ENV_VARS} variables` });
    if (bytes + size > MAX_ENV_BYTES) return void skipped.push({ field, why: `over ${MAX_ENV_BYTES} bytes in total` });
    names.add(name);
    bytes += size;
    entries.push(`${name}=${value}`);
  };
  const meta: readonly (readonly [string, string])[] = [
    ['rule', event.rule],
    ['priority', event.priority],
    ['source', event.source],
    ['hostname', event.hostname],
    ['tags', event.tags.join(',')],
  ];
  const wanted = opts.fields;
  for (const [key, value] of meta) if (wanted === undefined || wanted.includes(key)) add(key, `${prefix}${key.toUpperCase()}`, value);
  const keys = wanted !== undefined ? wanted.filter((k) => !ALERT_VARIABLES.includes(k)) : Object.keys(event.outputFields).sort();
  for (const key of keys) {
    const present = Object.prototype.hasOwnProperty.call(event.outputFields, key);
    const value = present ? envValueOf(event.outputFields[key] as FieldValue) : undefined;
    add(key, envNameOf(key, prefix), value, present ? 'null or unsupported value' : 'not in the alert');
  }
  for (const key of Object.keys(opts.contexts ?? {}).sort()) add(key, envNameOf(key, prefix), opts.contexts?.[key]);
  return { entries, skipped };
}

/**
 * The argv that runs `command` (the rule's argv) with `env` set: `env -- NAME=value … command…`,
 * or `command` itself when there is nothing to set (so a container without `env` can still
 * run a command that needs no alert field).
 */
export function argvWithEnv(env: readonly string[], command: readonly string[]): string[] {
  return env.length === 0 ? [...command] : ['env', '--', ...env, ...command];
}

/** "3 alert fields not passed: a.b (null or unsupported value), …" (at most `max` named); '' when none. */
export function skippedText(skipped: AlertEnv['skipped'], max = 5): string {
  if (skipped.length === 0) return '';
  const named = skipped.slice(0, max).map((s) => `${s.field} (${s.why})`);
  const more = skipped.length > max ? `, and ${skipped.length - max} more` : '';
  return `${skipped.length} alert field${skipped.length === 1 ? '' : 's'} not passed: ${named.join(', ')}${more}`;
}
