/**
 * A Talon action (actionner, parameters, output, contexts) as a talon.dev action.
 *
 * Talon's parameter names are snake_case; ours are the camelCase keys each actionner declares
 * in its `paramsSchema`. A Talon name maps to the declared key it spells case-insensitively
 * once camel-cased (`grace_period_seconds` → `gracePeriodSeconds`, `ignore_daemonsets` →
 * `ignoreDaemonSets`), or through RENAMED where the name changed. TALON_PARAMETERS lists what
 * Talon itself knows per actionner (talon-compat §4): any other key is one Talon decodes with
 * mapstructure and silently ignores, so it is reported and dropped here.
 *
 * Where Talon's model differs, the conversion keeps the behaviour and says what changed:
 * - `kubernetes:exec`'s `command` is a shell string Talon expands (`${FD_NAME}`) and runs with
 *   `sh -c` in every container: it becomes a `kubernetes:script` whose script is that text,
 *   run in every container, the shell reading alert fields from its environment (no splicing).
 * - `kubernetes:download`'s `file: ${FD_NAME}` becomes `fileFromField: fd.name`.
 * - `gcp:function` is called by URL here: name + location + `--gcp-project` give the URL.
 * - outputs: `minio:s3` → `aws:s3` with an endpoint profile; settings Talon took per action
 *   that are operator config here (S3 region, local destination) are dropped with a note.
 */
import type { OutputSpec, TalonActionSpec } from '../api/v1alpha1/types.js';
import type { Actionner } from '../actionners/types.js';
import { isReservedEnvName } from '../actionners/kubernetes/exec-env.js';
import type { Diagnostics, TalonAction, TalonOutput, TalonParams } from './talon-rules.js';

/** Talon's older actionner names (renamed before its v0.1.0) and what they are now. */
export const OLD_ACTIONNER_NAMES: Readonly<Record<string, string>> = {
  'kubernetes:labelize': 'kubernetes:label',
};

/** Marks a Talon parameter that convertParams reads as it is (it has no counterpart key). */
const RAW = '*';

/**
 * The parameters Talon's actionners read (talon-compat §4): the key and, when it is not the
 * camelCase of the key, our name, RAW, or why there is no equivalent.
 */
const TALON_PARAMETERS: Readonly<Record<string, Readonly<Record<string, string | { none: string } | undefined>>>> = {
  'kubernetes:terminate': { grace_period_seconds: undefined, ignore_daemonsets: undefined, ignore_statefulsets: undefined, ignore_standalone_pods: undefined, min_healthy_replicas: undefined },
  'kubernetes:label': { labels: undefined, level: undefined },
  'kubernetes:annotation': { annotations: undefined, level: undefined },
  'kubernetes:networkpolicy': { allow_cidr: 'allowCIDRs', allow_namespaces: undefined },
  'calico:networkpolicy': { allow_cidr: 'allowCIDRs', allow_namespaces: undefined, order: undefined },
  'cilium:networkpolicy': { allow_cidr: 'allowCIDRs', allow_namespaces: undefined },
  'kubernetes:exec': { command: RAW, shell: RAW },
  'kubernetes:script': { script: RAW, file: RAW, shell: RAW },
  'kubernetes:log': { tail_lines: undefined },
  'kubernetes:download': { file: undefined },
  'kubernetes:tcpdump': { duration: undefined, snaplen: undefined, image: undefined },
  'kubernetes:sysdig': { duration: undefined, buffer_size: undefined, scope: undefined, image: undefined },
  'kubernetes:delete': {},
  'kubernetes:cordon': {},
  'kubernetes:drain': {
    ignore_daemonsets: undefined,
    ignore_statefulsets: undefined,
    min_healthy_replicas: undefined,
    max_wait_period: 'maxWaitSeconds',
    ignore_errors: { none: 'eviction errors always make the outcome Failed here (use the action\'s ignoreErrors to let the rule go on)' },
    wait_period_excluded_namespaces: { none: 'Talon parses it but never uses it' },
  },
  'aws:lambda': { aws_lambda_name: 'functionName', aws_lambda_alias_or_version: 'qualifier', aws_lambda_invocation_type: 'invocationType' },
  'gcp:function': { gcp_function_name: RAW, gcp_function_location: RAW, gcp_function_timeout: { none: 'Talon reads it as nanoseconds; the timeout here is timeoutSeconds (default 30)' } },
};

/** Actionners for which Talon honours `additional_contexts` (UseContext=true). */
const USE_CONTEXT: ReadonlySet<string> = new Set(['kubernetes:exec', 'kubernetes:script', 'aws:lambda']);

/** Options of the conversion that Talon's files cannot say. */
export interface ConvertOptions {
  /** The aws:s3 profile `minio:s3` outputs use (an endpoint profile in the operator config). */
  readonly minioProfile: string;
  /** The GCP project of `gcp:function` actions (for their URL). */
  readonly gcpProject?: string;
  /** Reads a `kubernetes:script` `file` (Talon reads it from its own filesystem). */
  readonly readFile?: (path: string) => string | undefined;
}

/** Shell variables of the shell itself, never alert fields: left alone when alert variables get a prefix. */
const SHELL_OWN: ReadonlySet<string> = new Set(['PATH', 'HOME', 'PWD', 'OLDPWD', 'SHELL', 'USER', 'LOGNAME', 'TERM', 'IFS', 'PS1', 'PS2', 'PS4', 'RANDOM', 'LINENO', 'SECONDS', 'UID', 'EUID', 'PPID', 'OPTARG', 'OPTIND', 'TMPDIR', 'LANG']);
const VARIABLE = /\$(\{)?([A-Za-z_][A-Za-z0-9_]*)/g;
/** The prefix alert variables get when a script reads a name the operator never sets unprefixed. */
export const CONVERTED_ENV_PREFIX = 'TALON_';

/**
 * A Talon command or script as script text for kubernetes:script. Talon expands `${VAR}`
 * itself; here the shell does, from the environment the operator sets. Names the operator
 * never sets as they are (NODE_*, LD_*, … — exec-env.ts) are read under a prefix instead: the
 * script then reads every alert variable as TALON_<name>, and the prefix is set.
 */
export function scriptText(text: string, where: string, d: Diagnostics): { script: string; envPrefix?: string } {
  const names = [...text.matchAll(VARIABLE)].map((m) => m[2]!);
  const reserved = [...new Set(names.filter((n) => !SHELL_OWN.has(n) && isReservedEnvName(n)))];
  if (reserved.length === 0) return { script: text };
  const renamed = new Set<string>();
  const script = text.replace(VARIABLE, (all, brace: string | undefined, name: string) => {
    if (SHELL_OWN.has(name)) return all;
    renamed.add(name);
    return `$${brace ?? ''}${CONVERTED_ENV_PREFIX}${name}`;
  });
  d.warnings.push(
    `${where}: the script reads ${reserved.join(', ')}, which the operator never sets under that name (reserved for interpreters); alert variables get the prefix ${CONVERTED_ENV_PREFIX} (envPrefix) and the script reads ${[...renamed].map((n) => CONVERTED_ENV_PREFIX + n).join(', ')}`,
  );
  return { script, envPrefix: CONVERTED_ENV_PREFIX };
}

const camel = (snake: string): string => snake.replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());

/** The declared parameter key `talonKey` maps to, or undefined. */
function declaredKey(actionner: Actionner, talonKey: string, renamed: string | undefined): string | undefined {
  const keys = Object.keys((actionner.paramsSchema as { properties?: Record<string, unknown> }).properties ?? {});
  const wanted = (renamed ?? camel(talonKey)).toLowerCase();
  return keys.find((k) => k.toLowerCase() === wanted);
}

/** Talon's string maps (labels, annotations) hold text: numbers and booleans become their text. */
function stringMap(v: unknown): unknown {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return v;
  return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, typeof x === 'number' || typeof x === 'boolean' ? String(x) : x ?? '']));
}

/** A whole `${VAR}` / `$VAR` and the Falco field it names by Talon's naming, when the text is exactly one. */
function singleVariable(text: string): { name: string; field: string } | undefined {
  const m = /^\$(?:\{([A-Za-z_][A-Za-z0-9_]*)\}|([A-Za-z_][A-Za-z0-9_]*))$/.exec(text.trim());
  const name = m?.[1] ?? m?.[2];
  return name === undefined ? undefined : { name, field: name.toLowerCase().replaceAll('_', '.') };
}

/** What a converted action is, before it becomes a TalonAction spec or a rule's inline action. */
export type ConvertedAction = TalonActionSpec;

/** The generic part: Talon's known parameters renamed to the declared keys; unknown ones dropped. */
function renameParams(talonName: string, actionner: Actionner, p: TalonParams, where: string, d: Diagnostics): Record<string, unknown> {
  const known = TALON_PARAMETERS[talonName] ?? {};
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(p)) {
    if (!Object.prototype.hasOwnProperty.call(known, key)) {
      d.warnings.push(`${where}: parameter '${key}' is not a ${talonName} parameter (Talon silently ignores it): dropped`);
      continue;
    }
    const spec = known[key];
    if (typeof spec === 'object') {
      d.warnings.push(`${where}: parameter '${key}' has no equivalent (${spec.none}): dropped`);
      continue;
    }
    if (spec === RAW) continue;
    const ours = declaredKey(actionner, key, spec);
    if (ours === undefined) {
      d.errors.push(`${where}: parameter '${key}' has no counterpart in ${actionner.info.name}`);
      continue;
    }
    out[ours] = value;
  }
  return out;
}

/** Special cases: the actionner and parameters Talon's names and values become. */
function convertParams(
  talonName: string,
  actionner: Actionner,
  raw: TalonParams,
  p: Record<string, unknown>,
  where: string,
  opts: ConvertOptions,
  d: Diagnostics,
): { actionner: string; params: Record<string, unknown> } {
  const name = actionner.info.name;
  switch (talonName) {
    case 'kubernetes:terminate':
    case 'kubernetes:drain':
      if (typeof p.minHealthyReplicas === 'number') p.minHealthyReplicas = String(p.minHealthyReplicas);
      return { actionner: name, params: p };
    case 'kubernetes:label':
      if (p.labels !== undefined) p.labels = stringMap(p.labels);
      return { actionner: name, params: p };
    case 'kubernetes:annotation':
      if (p.annotations !== undefined) p.annotations = stringMap(p.annotations);
      return { actionner: name, params: p };
    case 'kubernetes:exec': {
      // Talon: [shell, -c, os.ExpandEnv(command)] in every container.
      const { command, shell } = raw;
      if (typeof command !== 'string' || command === '') {
        d.errors.push(`${where}: kubernetes:exec needs 'command'`);
        return { actionner: 'kubernetes:script', params: {} };
      }
      const s = scriptText(command, where, d);
      return {
        actionner: 'kubernetes:script',
        params: { script: s.script, ...(shell !== undefined ? { shell } : {}), allContainers: true, ...(s.envPrefix ? { envPrefix: s.envPrefix } : {}) },
      };
    }
    case 'kubernetes:script': {
      let text = raw.script;
      if (raw.file !== undefined) {
        if (text !== undefined) d.errors.push(`${where}: set either 'script' or 'file' (Talon refuses both)`);
        const read = typeof raw.file === 'string' ? opts.readFile?.(raw.file) : undefined;
        if (read === undefined) d.errors.push(`${where}: cannot read the script file ${JSON.stringify(raw.file)} (Talon reads it from its own filesystem; pass it where convert can read it, or inline it as 'script')`);
        text = read;
      }
      if (typeof text !== 'string' || text === '') {
        if (raw.file === undefined) d.errors.push(`${where}: kubernetes:script needs 'script' or 'file'`);
        return { actionner: name, params: {} };
      }
      d.warnings.push(`${where}: Talon runs a script in the pod's last container; here it runs in the first unless 'container' names one`);
      const s = scriptText(text, where, d);
      return { actionner: name, params: { script: s.script, ...(raw.shell !== undefined ? { shell: raw.shell } : {}), ...(s.envPrefix ? { envPrefix: s.envPrefix } : {}) } };
    }
    case 'kubernetes:download': {
      if (typeof p.file !== 'string') return { actionner: name, params: p };
      const v = singleVariable(p.file);
      if (v !== undefined) {
        d.warnings.push(`${where}: file ${JSON.stringify(p.file)} becomes fileFromField: ${v.field} (the field whose Talon variable is ${v.name})`);
        return { actionner: name, params: { fileFromField: v.field } };
      }
      if (p.file.includes('$')) d.errors.push(`${where}: file ${JSON.stringify(p.file)} mixes text and variables; the path comes from the rule (file) or from one alert field (fileFromField) here`);
      return { actionner: name, params: p };
    }
    case 'gcp:function': {
      const { gcp_function_name: fn, gcp_function_location: location } = raw;
      if (typeof fn !== 'string' || fn === '') d.errors.push(`${where}: gcp:function needs gcp_function_name`);
      else if (opts.gcpProject === undefined) d.errors.push(`${where}: gcp:function is called by URL here; pass --gcp-project PROJECT to build https://<location>-<project>.cloudfunctions.net/<name>`);
      else {
        const region = typeof location === 'string' && location !== '' ? location : 'us-central1';
        return { actionner: name, params: { url: `https://${region}-${opts.gcpProject}.cloudfunctions.net/${fn}` } };
      }
      return { actionner: name, params: {} };
    }
    default:
      return { actionner: name, params: p };
  }
}

/** A Talon output as a talon.dev output; undefined when it cannot be carried. */
export function convertOutput(o: TalonOutput, where: string, opts: ConvertOptions, d: Diagnostics): OutputSpec | undefined {
  if (o.target === undefined) {
    d.warnings.push(`${where}: output without a target (Talon ignores it): dropped`);
    return undefined;
  }
  const p = { ...(o.parameters ?? {}) };
  const params: Record<string, unknown> = {};
  const rest = (known: readonly string[]) => {
    for (const k of Object.keys(p)) if (!known.includes(k)) d.warnings.push(`${where}: output parameter '${k}' is not a ${o.target} parameter (Talon ignores it): dropped`);
  };
  const prefix = () => {
    if (p.prefix === undefined) return;
    const text = String(p.prefix);
    const trimmed = text.replace(/^\/+/, '');
    if (trimmed !== text) d.warnings.push(`${where}: output prefix ${JSON.stringify(text)}: object keys never start with '/' here; prefix ${JSON.stringify(trimmed)}`);
    if (trimmed !== '') params.prefix = trimmed;
  };
  switch (o.target) {
    case 'aws:s3':
      rest(['bucket', 'prefix', 'region']);
      params.bucket = p.bucket;
      prefix();
      if (p.region !== undefined) d.warnings.push(`${where}: output region ${JSON.stringify(p.region)} is operator config here (outputs["aws:s3"].profiles.<profile>.region): dropped`);
      return { target: 'aws:s3', parameters: params };
    case 'minio:s3':
      rest(['bucket', 'prefix']);
      params.bucket = p.bucket;
      prefix();
      params.profile = opts.minioProfile;
      d.warnings.push(`${where}: minio:s3 becomes aws:s3 with profile '${opts.minioProfile}': define outputs["aws:s3"].profiles.${opts.minioProfile} with Talon's minio endpoint (endpoint: http(s)://host:port, forcePathStyle: true, accessKeyIdFile, secretAccessKeyFile)`);
      return { target: 'aws:s3', parameters: params };
    case 'gcp:gcs':
      rest(['bucket', 'prefix']);
      params.bucket = p.bucket;
      prefix();
      return { target: 'gcp:gcs', parameters: params };
    case 'local:file':
      rest(['destination']);
      if (p.destination !== undefined) d.warnings.push(`${where}: local:file destination ${JSON.stringify(p.destination)} is operator config here (outputs["local:file"].directory): dropped`);
      return { target: 'local:file' };
    default:
      d.errors.push(`${where}: unknown output target '${o.target}'`);
      return undefined;
  }
}

/**
 * The talon.dev action of a (resolved) Talon action. `find` looks an actionner up by name.
 * Errors and warnings go to `d`; the result is meaningful only when no error was added.
 */
export function convertAction(a: TalonAction, find: (name: string) => Actionner | undefined, opts: ConvertOptions, d: Diagnostics): ConvertedAction | undefined {
  if (a.actionner === undefined) {
    d.errors.push(`${a.where}: no actionner (Talon refuses an action without one)`);
    return undefined;
  }
  let talonName = a.actionner;
  const renamed = OLD_ACTIONNER_NAMES[talonName];
  if (renamed !== undefined) {
    d.warnings.push(`${a.where}: ${talonName} is Talon's old name of ${renamed}`);
    talonName = renamed;
  }
  const actionner = find(talonName);
  if (actionner === undefined || TALON_PARAMETERS[talonName] === undefined) {
    d.errors.push(`${a.where}: unknown actionner '${a.actionner}'`);
    return undefined;
  }
  const renamedParams = renameParams(talonName, actionner, a.parameters ?? {}, a.where, d);
  const { actionner: ours, params } = convertParams(talonName, actionner, a.parameters ?? {}, renamedParams, a.where, opts, d);
  const spec: ConvertedAction = { actionner: ours };
  if (a.description !== undefined && a.description !== '') spec.description = a.description.trim();
  if (Object.keys(params).length > 0) spec.parameters = params;
  if (a.continue !== undefined) spec.continue = a.continue;
  if (a.ignoreErrors !== undefined) spec.ignoreErrors = a.ignoreErrors;
  if (a.output !== undefined) {
    const output = convertOutput(a.output, a.where, opts, d);
    if (output !== undefined) spec.output = output;
  }
  if (a.additionalContexts !== undefined && a.additionalContexts.length > 0) {
    if (!USE_CONTEXT.has(talonName)) {
      d.warnings.push(`${a.where}: additional_contexts ${JSON.stringify(a.additionalContexts)} (Talon ignores them for ${talonName}): dropped`);
    } else {
      const contexts = [...new Set(a.additionalContexts)];
      const unknown = contexts.filter((c) => c !== 'k8snode' && c !== 'aws');
      for (const c of unknown) d.warnings.push(`${a.where}: additional context '${c}' is not one Talon has (it ignores it): dropped`);
      const kept = contexts.filter((c) => c === 'k8snode' || c === 'aws') as ('k8snode' | 'aws')[];
      if (kept.length > 0) spec.additionalContexts = kept;
    }
  }
  return spec;
}
