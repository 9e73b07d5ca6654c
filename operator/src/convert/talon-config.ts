/**
 * Falco Talon's `config.yaml` (talon-compat §6.1, §5) as an operator config fragment: the
 * listen address, default notifiers, notifier instances (one per Talon notifier, named as in
 * Talon, so converted rules' `notifiers` resolve), the `aws`, `minio` and `gcp` sections as
 * `actionners.aws`/`actionners.gcp` and `aws:s3`/`gcp:gcs` profiles — Talon's minio becomes the
 * endpoint profile that converted `minio:s3` outputs name.
 *
 * Secrets are never written into the fragment: here they are files (a mounted Secret), so each
 * secret value becomes `<key>File: <secretsDir>/<name>` and a warning says which Talon value to
 * put in that file. Keys with no counterpart are warned about and dropped.
 */
import { parse } from 'yaml';
import type { Diagnostics } from './talon-rules.js';

export interface TalonConfigOptions {
  /** Where the Secret holding the converted secrets is mounted. */
  readonly secretsDir: string;
  /** The aws:s3 profile Talon's minio settings become. */
  readonly minioProfile: string;
}

const isMap = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const str = (v: unknown): string | undefined => (v === undefined || v === null || v === '' ? undefined : String(v));

/** Copies `from[talonKey]` to `to[ourKey]` when set; returns whether it was. */
function copy(from: Record<string, unknown>, talonKey: string, to: Record<string, unknown>, ourKey: string, map: (v: unknown) => unknown = (v) => v): boolean {
  const v = from[talonKey];
  if (v === undefined || v === null || v === '') return false;
  to[ourKey] = map(v);
  return true;
}

/**
 * The converted operator config (a plain object to serialise as YAML). Errors and warnings go
 * to `d`; every Talon key is either converted or named in a warning.
 */
export function convertTalonConfig(file: string, content: string, opts: TalonConfigOptions, d: Diagnostics): Record<string, unknown> {
  let raw: unknown;
  try {
    raw = parse(content);
  } catch (err) {
    d.errors.push(`${file}: not YAML: ${(err as Error).message}`);
    return {};
  }
  if (raw === null || raw === undefined) raw = {};
  if (!isMap(raw)) {
    d.errors.push(`${file}: a Talon configuration is a YAML map`);
    return {};
  }
  const where = (key: string) => `${file}: ${key}`;
  const secret = (key: string, value: unknown, name: string): string => {
    const path = `${opts.secretsDir.replace(/\/+$/, '')}/${name}`;
    d.warnings.push(`${where(key)}: a secret; put its value in ${path} (a mounted Secret) — it is not written into the config`);
    void value;
    return path;
  };
  const out: Record<string, unknown> = {};
  const listen: Record<string, unknown> = {};
  copy(raw, 'listen_address', listen, 'address', String);
  copy(raw, 'listen_port', listen, 'port', Number);
  if (Object.keys(listen).length > 0) out.listen = listen;
  out.auth = { mode: 'token', tokenFile: `${opts.secretsDir.replace(/\/+$/, '')}/webhook-token` };
  d.warnings.push(`${file}: Talon's webhook has no authentication; the converted config asks for a bearer token (auth.tokenFile) — give Falcosidekick/Falco the same token (docs/deploy.md), or set auth.mode: none explicitly`);
  if (raw.log_format !== undefined) out.logFormat = raw.log_format === 'json' ? 'json' : 'text';
  if (isMap(raw.deduplication) && raw.deduplication.time_window_seconds !== undefined) out.dedup = { window: `${Number(raw.deduplication.time_window_seconds)}s` };
  if (Array.isArray(raw.default_notifiers)) out.defaultNotifiers = raw.default_notifiers.map(String);

  const notifiers: Record<string, Record<string, unknown>> = {};
  const wanted = new Set<string>(Array.isArray(raw.default_notifiers) ? raw.default_notifiers.map(String) : []);
  for (const name of Object.keys(isMap(raw.notifiers) ? raw.notifiers : {})) wanted.add(name);
  const talonNotifiers = isMap(raw.notifiers) ? raw.notifiers : {};
  for (const name of [...wanted].sort()) {
    const t = isMap(talonNotifiers[name]) ? (talonNotifiers[name] as Record<string, unknown>) : {};
    const n: Record<string, unknown> = { type: name };
    const used = new Set<string>();
    const take = (talonKey: string, ourKey: string, map?: (v: unknown) => unknown) => {
      used.add(talonKey);
      copy(t, talonKey, n, ourKey, map);
    };
    const takeSecret = (talonKey: string, ourKey: string) => {
      used.add(talonKey);
      if (str(t[talonKey]) !== undefined) n[ourKey] = secret(`notifiers.${name}.${talonKey}`, t[talonKey], `${name}-${talonKey.replaceAll('_', '-')}`);
    };
    switch (name) {
      case 'k8sevents':
        break;
      case 'slack':
        takeSecret('webhook_url', 'webhookUrlFile');
        take('icon', 'iconUrl');
        take('username', 'username');
        take('footer', 'footer');
        take('format', 'format');
        break;
      case 'webhook': {
        takeSecret('url', 'urlFile');
        take('http_method', 'method', (v) => String(v).toUpperCase());
        const headers: Record<string, string> = isMap(t.custom_headers) ? Object.fromEntries(Object.entries(t.custom_headers).map(([k, v]) => [k, String(v)])) : {};
        if (str(t.content_type)) headers['Content-Type'] = String(t.content_type);
        if (str(t.user_agent)) headers['User-Agent'] = String(t.user_agent);
        for (const k of ['custom_headers', 'content_type', 'user_agent']) used.add(k);
        if (Object.keys(headers).length > 0) n.headers = headers;
        break;
      }
      case 'smtp': {
        used.add('host_port');
        const hp = str(t.host_port);
        if (hp) {
          const m = /^(.*):(\d+)$/.exec(hp);
          n.host = m ? m[1] : hp;
          if (m) n.port = Number(m[2]);
        }
        take('from', 'from');
        take('to', 'to', (v) => String(v).split(',').map((x) => x.trim()).filter((x) => x !== ''));
        take('user', 'user');
        takeSecret('password', 'passwordFile');
        used.add('tls');
        if (t.tls !== undefined) {
          const on = t.tls === true || t.tls === 'true';
          n.tls = on ? 'starttls' : 'none';
          if (!on) d.warnings.push(`${where('notifiers.smtp.tls')}: false — converted to tls: none (plain SMTP, as Talon); starttls is the default here and recommended`);
        }
        used.add('format');
        if (t.format !== undefined) d.warnings.push(`${where('notifiers.smtp.format')}: every message here has a text and an HTML part: dropped`);
        break;
      }
      case 'loki':
        take('url', 'url');
        take('user', 'user');
        takeSecret('api_key', 'passwordFile');
        take('tenant', 'tenant');
        take('custom_headers', 'headers');
        break;
      case 'elasticsearch': {
        take('url', 'url');
        take('user', 'user');
        takeSecret('password', 'passwordFile');
        take('index', 'index');
        take('suffix', 'suffix');
        take('custom_headers', 'headers');
        const template: Record<string, unknown> = {};
        for (const [k, ours] of [['create_index_template', 'create'], ['number_of_shards', 'shards'], ['number_of_replicas', 'replicas']] as const) {
          used.add(k);
          copy(t, k, template, ours, ours === 'create' ? (v) => v === true || v === 'true' : Number);
        }
        if (Object.keys(template).length > 0) n.indexTemplate = template;
        break;
      }
      default:
        d.warnings.push(`${where(`notifiers.${name}`)}: not a notifier Talon has: dropped`);
        continue;
    }
    for (const k of Object.keys(t)) if (!used.has(k)) d.warnings.push(`${where(`notifiers.${name}.${k}`)}: not a ${name} setting (Talon ignores it): dropped`);
    notifiers[name] = n;
  }
  if (Object.keys(notifiers).length > 0) out.notifiers = notifiers;

  const actionners: Record<string, unknown> = {};
  const s3Profiles: Record<string, unknown> = {};
  if (isMap(raw.aws)) {
    const aws: Record<string, unknown> = {};
    copy(raw.aws, 'region', aws, 'region');
    if (str(raw.aws.access_key)) aws.accessKeyIdFile = secret('aws.access_key', raw.aws.access_key, 'aws-access-key-id');
    if (str(raw.aws.secret_key)) aws.secretAccessKeyFile = secret('aws.secret_key', raw.aws.secret_key, 'aws-secret-access-key');
    for (const k of ['role_arn', 'external_id']) if (raw.aws[k] !== undefined) d.warnings.push(`${where(`aws.${k}`)}: AssumeRole is not supported; use IRSA / pod identity (the standard chain) or static keys: dropped`);
    for (const k of Object.keys(raw.aws)) if (!['region', 'access_key', 'secret_key', 'role_arn', 'external_id'].includes(k)) d.warnings.push(`${where(`aws.${k}`)}: not an aws setting (Talon ignores it): dropped`);
    actionners.aws = aws;
    s3Profiles.default = { ...aws };
  }
  if (isMap(raw.minio)) {
    const m = raw.minio;
    const profile: Record<string, unknown> = {};
    const endpoint = str(m.endpoint);
    if (endpoint) profile.endpoint = /^https?:\/\//.test(endpoint) ? endpoint : `${m.use_ssl === true || m.use_ssl === 'true' ? 'https' : 'http'}://${endpoint}`;
    profile.forcePathStyle = true;
    if (str(m.access_key)) profile.accessKeyIdFile = secret('minio.access_key', m.access_key, 'minio-access-key');
    if (str(m.secret_key)) profile.secretAccessKeyFile = secret('minio.secret_key', m.secret_key, 'minio-secret-key');
    for (const k of Object.keys(m)) if (!['endpoint', 'access_key', 'secret_key', 'use_ssl'].includes(k)) d.warnings.push(`${where(`minio.${k}`)}: not a minio setting (Talon ignores it): dropped`);
    s3Profiles[opts.minioProfile] = profile;
  }
  const outputs: Record<string, unknown> = {};
  if (Object.keys(s3Profiles).length > 0) outputs['aws:s3'] = { profiles: s3Profiles };
  if (isMap(raw.gcp)) {
    const gcp: Record<string, unknown> = {};
    copy(raw.gcp, 'credentials_path', gcp, 'credentialsFile');
    if (raw.gcp.region !== undefined) d.warnings.push(`${where('gcp.region')}: the region is in each gcp:function URL here: dropped`);
    actionners.gcp = gcp;
    outputs['gcp:gcs'] = { profiles: { default: { ...gcp } } };
  }
  if (Object.keys(actionners).length > 0) out.actionners = actionners;
  if (Object.keys(outputs).length > 0) out.outputs = outputs;

  const handled = new Set(['listen_address', 'listen_port', 'log_format', 'deduplication', 'default_notifiers', 'notifiers', 'aws', 'minio', 'gcp']);
  const why: Readonly<Record<string, string>> = {
    rules_files: 'rules are custom resources here (convert the files)',
    watch_rules: 'custom resources are watched',
    print_all_events: 'use logLevel: debug',
    kubeconfig: 'use talon-operator run --kubeconfig',
    otel: 'metrics are on /metrics; OTLP export is not built',
  };
  for (const k of Object.keys(raw)) {
    if (handled.has(k)) continue;
    d.warnings.push(`${where(k)}: ${why[k] ?? 'not a Talon setting (Talon ignores it)'}: dropped`);
  }
  if (isMap(raw.deduplication) && raw.deduplication.leader_election !== undefined) d.warnings.push(`${where('deduplication.leader_election')}: every replica acts here (no leader): dropped`);
  return out;
}
