/**
 * The `smtp` notifier: one e-mail per outcome, with a plain-text and an HTML body that carry
 * the same facts (Talon's HTML format has failed to render since v0.3.0, its text body was
 * empty until 2026: talon-compat.md §5.1).
 *
 * - Transport security is explicit: `tls: starttls` (default) REQUIRES the STARTTLS upgrade
 *   (a server that does not offer it fails the delivery; nothing is ever sent in plain),
 *   `tls: tls` is implicit TLS from the first byte, `tls: none` never attempts STARTTLS and is
 *   only used when chosen. Certificates are verified (`caFile` adds a private CA);
 *   `insecureSkipVerify: true` turns verification off.
 * - Authentication: `user` + `passwordFile` (read once at start through `Secret`); when set,
 *   the login is always attempted (a server that offers no AUTH fails the delivery rather
 *   than getting the mail unauthenticated). The password is handed to the transport only
 *   inside a send and never appears in logs, errors or metrics.
 * - Failures: connection errors and 4xx replies are retryable (the router retries them with
 *   backoff); 5xx replies, authentication and TLS failures are not.
 * - One transporter per instance, settings checked in `init`, built by the first delivery. It
 *   is not pooled: each message opens its own connection and closes it, so an instance holds
 *   no socket between deliveries and there is nothing to close at shutdown; an aborted send
 *   (the router's timeout) closes its connection at once.
 * - nodemailer is loaded on first use (lib/first-use.ts), so an operator without an smtp
 *   instance does not carry it: its one-file address parser when an instance's `init` checks
 *   the addresses (synchronously, so a bad address still stops the start-up), the rest by the
 *   first delivery (a failed load fails that notification, naming the package).
 *
 * The body builder (`mailBody`) is pure: outcome in, `{subject, text, html}` out. Every value
 * comes from the alert or the cluster and is treated as hostile: HTML-escaped in the HTML,
 * control characters removed from single-line fields and the subject, continuation lines of
 * the message indented in the text so they cannot pose as fields.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { rootCertificates } from 'node:tls';
import { inspect } from 'node:util';
import { Type, type Static } from '@sinclair/typebox';
import type Mail from 'nodemailer/lib/mailer';
import type addressparser from 'nodemailer/lib/addressparser';
import { TalonError, TerminalError } from '../errors.js';
import { firstUse, memoAsync } from '../lib/first-use.js';
import { Secret } from '../lib/secret.js';
import { ruleKindOf, type Outcome, type OutcomeResult } from '../api/v1alpha1/outcome.js';
import type { Notifier, NotifierDeps } from './types.js';

// ---------------------------------------------------------------------------------------------
// Configuration

const TLS_MODES = ['starttls', 'tls', 'none'] as const;
export type SmtpTlsMode = (typeof TLS_MODES)[number];

/** The subject used when the instance sets none. */
export const DEFAULT_SUBJECT = '[talon] {result}: {actionner} on {target} (rule {rule})';

export const SmtpConfigSchema = Type.Object(
  {
    host: Type.String({ minLength: 1, description: 'SMTP server host name or IP address.' }),
    port: Type.Optional(Type.Integer({ minimum: 1, maximum: 65535, description: 'Server port; default 587 (starttls), 465 (tls) or 25 (none).' })),
    tls: Type.Unsafe<SmtpTlsMode>({
      type: 'string',
      enum: [...TLS_MODES],
      default: 'starttls',
      description: 'starttls: upgrade required, never plain; tls: implicit TLS; none: no TLS at all (only when chosen).',
    }),
    caFile: Type.Optional(Type.String({ minLength: 1, description: 'PEM bundle of CAs to trust for the server certificate (beside the system ones).' })),
    insecureSkipVerify: Type.Boolean({ default: false, description: 'Accept any server certificate (not recommended).' }),
    user: Type.Optional(Type.String({ minLength: 1, description: 'Login name; requires passwordFile.' })),
    passwordFile: Type.Optional(Type.String({ minLength: 1, description: 'File holding the password (e.g. a mounted Secret); requires user.' })),
    from: Type.String({ minLength: 1, description: 'Sender address, e.g. "Talon <talon@example.com>".' }),
    to: Type.Array(Type.String({ minLength: 1 }), { minItems: 1, maxItems: 100, description: 'Recipient addresses.' }),
    subject: Type.String({
      minLength: 1,
      maxLength: 500,
      default: DEFAULT_SUBJECT,
      description: 'Subject template; placeholders {result} {reason} {rule} {action} {actionner} {target} {falcoRule} {priority} {traceId}.',
    }),
  },
  { additionalProperties: false },
);
export type SmtpConfig = Static<typeof SmtpConfigSchema>;

// ---------------------------------------------------------------------------------------------
// The body builder (pure)

export interface MailBody {
  readonly subject: string;
  readonly text: string;
  readonly html: string;
}

/** Subject placeholders and what they stand for. */
const PLACEHOLDERS = {
  result: (o: Outcome) => o.result,
  reason: (o: Outcome) => o.reason,
  rule: (o: Outcome) => ruleName(o),
  action: (o: Outcome) => o.action,
  actionner: (o: Outcome) => o.actionner,
  target: (o: Outcome) => targetText(o),
  falcoRule: (o: Outcome) => o.falcoRule,
  priority: (o: Outcome) => o.priority,
  traceId: (o: Outcome) => o.traceId,
} satisfies Record<string, (o: Outcome) => string>;
type Placeholder = keyof typeof PLACEHOLDERS;

/** A compiled subject template: literal text and placeholders, substituted as plain text. */
export type SubjectTemplate = readonly (string | { readonly key: Placeholder })[];

const SUBJECT_MAX = 250;

/**
 * Parses a subject template. `{name}` is a placeholder (the names in `PLACEHOLDERS`), `{{` and
 * `}}` are literal braces. Throws on an unknown placeholder or a lone brace, naming it.
 */
export function compileSubject(template: string): SubjectTemplate {
  const parts: (string | { key: Placeholder })[] = [];
  let lit = '';
  for (let i = 0; i < template.length; i++) {
    const c = template[i]!;
    if ((c === '{' || c === '}') && template[i + 1] === c) {
      lit += c;
      i += 1;
    } else if (c === '{') {
      const end = template.indexOf('}', i);
      const name = end < 0 ? '' : template.slice(i + 1, end);
      if (end < 0) throw new Error(`subject: unclosed '{' at position ${i}`);
      if (!Object.hasOwn(PLACEHOLDERS, name)) throw new Error(`subject: unknown placeholder {${name}} (known: ${Object.keys(PLACEHOLDERS).map((k) => `{${k}}`).join(' ')})`);
      if (lit !== '') parts.push(lit);
      lit = '';
      parts.push({ key: name as Placeholder });
      i = end;
    } else if (c === '}') {
      throw new Error(`subject: lone '}' at position ${i} (write '}}' for a brace)`);
    } else {
      lit += c;
    }
  }
  if (lit !== '') parts.push(lit);
  return parts;
}

const DEFAULT_SUBJECT_TEMPLATE = compileSubject(DEFAULT_SUBJECT);

// C0 controls, DEL, C1 controls, and the Unicode line/paragraph separators.
// eslint-disable-next-line no-control-regex
const CONTROLS = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]+/g;
// The same except the newline, for the message.
// eslint-disable-next-line no-control-regex
const CONTROLS_BUT_NL = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f]+/g;

/** One line: every run of control characters (CR, LF, tab, …) becomes one space. */
function oneLine(v: string): string {
  return v.replace(CONTROLS, ' ').trim();
}

/** A multi-line value: line breaks normalised to \n, other control characters to a space. */
function multiLine(v: string): string {
  return v.replace(/\r\n?|[\u2028\u2029]/g, '\n').replace(CONTROLS_BUT_NL, ' ').replace(/ +\n/g, '\n').replace(/\s+$/, '');
}

function ruleName(o: Outcome): string {
  return o.rule.namespace === '' ? o.rule.name : `${o.rule.namespace}/${o.rule.name}`;
}

function targetText(o: Outcome): string {
  const t = o.target;
  if (t.kind === 'None' || t.name === '') return 'none';
  return `${t.kind} ${t.namespace ? `${t.namespace}/` : ''}${t.name}`;
}

/** The subject of one outcome: placeholders substituted, one line, at most 250 characters. */
export function renderSubject(o: Outcome, template: SubjectTemplate = DEFAULT_SUBJECT_TEMPLATE): string {
  const s = oneLine(template.map((p) => (typeof p === 'string' ? p : PLACEHOLDERS[p.key](o))).join(''));
  return s.length > SUBJECT_MAX ? `${s.slice(0, SUBJECT_MAX - 1)}…` : s;
}

/** The facts of one outcome, label and value, in the order both bodies show them. */
export function mailFacts(o: Outcome): [label: string, value: string][] {
  const facts: [string, string][] = [
    ['Result', o.result],
    ['Reason', o.reason],
    ['Message', o.message],
    ['Rule', `${ruleKindOf(o.rule)} ${ruleName(o)}`],
    ['Action', o.action],
    ['Actionner', o.actionner],
    ['Target', targetText(o)],
    ['Falco rule', o.falcoRule],
    ['Priority', o.priority],
    ['Time', o.time],
    ['Trace id', o.traceId],
  ];
  if (o.artifact !== undefined) {
    const a = o.artifact;
    facts.push(['Artifact', `${a.output} ${a.location} (${a.bytes} bytes${a.truncated ? ', truncated' : ''})`]);
  }
  if (o.objects.length > 0) facts.push(['Objects', o.objects.map((r) => `${r.kind} ${r.namespace ? `${r.namespace}/` : ''}${r.name}`).join(', ')]);
  facts.push(['Merged alerts', String(o.merged)]);
  facts.push(['Duration', `${o.durationMs} ms`]);
  return facts.map(([label, value]) => [label, label === 'Message' ? multiLine(value) : oneLine(value)]);
}

const HTML_ESCAPES: Readonly<Record<string, string>> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

/** Escapes text for HTML element content and double-quoted attribute values. */
export function escapeHtml(v: string): string {
  return v.replace(/[&<>"']/g, (c) => HTML_ESCAPES[c]!);
}

const COLOURS: Readonly<Record<OutcomeResult, string>> = { Succeeded: '#2e7d32', Failed: '#c62828', Skipped: '#757575', DryRun: '#1565c0' };

/**
 * The e-mail for one outcome. Pure and total: any outcome gives a subject of one line, a text
 * body of `Label: value` lines, and a well-formed HTML document (every value escaped) with the
 * same facts in a table.
 */
export function mailBody(o: Outcome, subject: SubjectTemplate = DEFAULT_SUBJECT_TEMPLATE): MailBody {
  const subj = renderSubject(o, subject);
  const facts = mailFacts(o);
  const width = Math.max(...facts.map(([l]) => l.length)) + 2;
  const heading = oneLine(`Talon: ${o.result} ${o.actionner} on ${targetText(o)}`);
  const text = [
    heading,
    '',
    ...facts.map(([label, value]) => `${`${label}:`.padEnd(width)}${value.split('\n').join(`\n${' '.repeat(width)}`)}`),
    '',
  ].join('\n');
  const colour = COLOURS[o.result] ?? '#000000';
  const rows = facts.map(
    ([label, value]) =>
      `<tr><th style="text-align:left;vertical-align:top;padding:2px 12px 2px 0">${escapeHtml(label)}</th><td style="white-space:pre-wrap">${escapeHtml(value)}</td></tr>`,
  );
  const html = [
    '<!DOCTYPE html>',
    '<html>',
    `<head><meta charset="utf-8"><title>${escapeHtml(subj)}</title></head>`,
    '<body style="font-family:sans-serif">',
    `<h2 style="color:${colour}">${escapeHtml(heading)}</h2>`,
    '<table>',
    ...rows,
    '</table>',
    '</body>',
    '</html>',
    '',
  ].join('\n');
  return { subject: subj, text, html };
}

// ---------------------------------------------------------------------------------------------
// Errors

/** Certificate and TLS failures nodemailer reports as socket errors (implicit TLS). */
const TLS_FAILURE = /CERT|SELF_SIGNED|UNABLE_TO_|ERR_TLS|ERR_SSL|EPROTO$/;
const CONNECTION_CODES: ReadonlySet<string> = new Set(['ECONNECTION', 'ETIMEDOUT', 'ESOCKET', 'EDNS']);

interface MailerError {
  readonly code?: unknown;
  readonly originalCode?: unknown;
  readonly responseCode?: unknown;
  readonly response?: unknown;
  readonly command?: unknown;
  readonly message?: unknown;
  readonly name?: unknown;
}

/**
 * A nodemailer failure as a TalonError: 4xx replies and connection failures are retryable;
 * 5xx replies, authentication, TLS, envelope and message failures are terminal. The message
 * is built from the error's code, command and server reply, with every `secrets` value (and
 * its base64 forms) replaced by `<redacted>`. The original error is not attached as `cause`:
 * nothing but this checked text reaches a log line.
 */
export function smtpError(err: unknown, secrets: readonly string[] = []): TalonError {
  if (err instanceof TalonError) return err;
  const e = (typeof err === 'object' && err !== null ? err : { message: String(err) }) as MailerError;
  const code = typeof e.code === 'string' ? e.code : '';
  const original = typeof e.originalCode === 'string' ? e.originalCode : '';
  const reply = typeof e.responseCode === 'number' ? e.responseCode : undefined;
  const command = typeof e.command === 'string' ? e.command : '';
  const raw = typeof e.message === 'string' ? e.message : String(err);
  const text = redact(`SMTP ${[code, original, command].filter((s) => s !== '').join(' ')}: ${raw}`.replace(CONTROLS, ' '), secrets);
  if (e.name === 'AbortError' || code === 'EABORT') return new TerminalError('Aborted', text);
  if (reply !== undefined && reply >= 400 && reply < 500) return new TalonError('ServerError', text, { retryable: true });
  if (reply !== undefined && reply >= 500) {
    const auth = code === 'EAUTH' || reply === 530 || reply === 534 || reply === 535 || reply === 538;
    return new TerminalError(auth ? 'Unauthorized' : 'ClientError', text);
  }
  if (code === 'EAUTH' || code === 'ENOAUTH') return new TerminalError('Unauthorized', text);
  if (code === 'ETLS' || TLS_FAILURE.test(original)) return new TerminalError('Forbidden', text);
  if (CONNECTION_CODES.has(code)) return new TalonError('NetworkError', text, { retryable: true });
  if (code === 'EENVELOPE' || code === 'EMESSAGE') return new TerminalError('Invalid', text);
  return new TerminalError('Unknown', text);
}

function redact(text: string, secrets: readonly string[]): string {
  let out = text;
  for (const s of secrets) if (s !== '') out = out.split(s).join('<redacted>');
  return out;
}

// ---------------------------------------------------------------------------------------------
// The notifier

type Transporter = Mail;

const nodemailer = firstUse('nodemailer', () => import('nodemailer'));

let parser: typeof addressparser | undefined;
/**
 * nodemailer's address parser, required (synchronously) by the first address check: `init`
 * validates without awaiting. It is one file with no imports of its own.
 */
function parseAddress(value: string): ReturnType<typeof addressparser> {
  parser ??= createRequire(import.meta.url)('nodemailer/lib/addressparser') as typeof addressparser;
  return parser(value, { flatten: true });
}

/** What `init` builds for one instance. Prints as `<smtp host:port>`: it never shows the password. */
export class SmtpState {
  readonly #transporter: () => Promise<Transporter>;
  readonly #user: string | undefined;
  readonly #password: Secret | undefined;
  readonly from: string;
  readonly to: readonly string[];
  readonly subject: SubjectTemplate;
  readonly endpoint: string;

  constructor(opts: { transporter: () => Promise<Transporter>; user?: string; password?: Secret; from: string; to: readonly string[]; subject: SubjectTemplate; endpoint: string }) {
    this.#transporter = opts.transporter;
    this.#user = opts.user;
    this.#password = opts.password;
    this.from = opts.from;
    this.to = opts.to;
    this.subject = opts.subject;
    this.endpoint = opts.endpoint;
  }

  /** Sends one message; rejects with `smtpError`'s verdict. */
  async send(body: MailBody, signal: AbortSignal): Promise<void> {
    const password = this.#password?.reveal();
    const secrets = password === undefined ? [] : secretForms(this.#user ?? '', password);
    let transporter: Transporter;
    try {
      transporter = await this.#transporter();
    } catch (err) {
      // nodemailer could not be loaded: a broken installation, which a retry does not mend.
      throw new TerminalError('Unknown', `SMTP ${(err as Error).message}`);
    }
    try {
      await transporter.sendMail({
        from: this.from,
        to: [...this.to],
        subject: body.subject,
        text: body.text,
        html: body.html,
        signal,
        ...(this.#user !== undefined && password !== undefined ? { auth: { user: this.#user, pass: password } } : {}),
      });
    } catch (err) {
      throw smtpError(err, secrets);
    }
  }

  toString(): string {
    return `<smtp ${this.endpoint}>`;
  }

  toJSON(): string {
    return this.toString();
  }

  [inspect.custom](): string {
    return this.toString();
  }
}

/** The password as it may travel: raw, base64 (AUTH LOGIN), and the base64 AUTH PLAIN token. */
function secretForms(user: string, password: string): string[] {
  const b64 = (s: string) => Buffer.from(s, 'utf8').toString('base64');
  return [password, b64(password), b64(`\u0000${user}\u0000${password}`)];
}

/** One address, checked: it must parse to a single mailbox with an '@'. */
function checkAddress(field: string, value: string): void {
  const parsed = parseAddress(value);
  if (parsed.length !== 1 || !/^[^@\s]+@[^@\s]+$/.test(parsed[0]?.address ?? '')) {
    throw new Error(`${field}: '${oneLine(value)}' is not one e-mail address (e.g. talon@example.com or "Talon <talon@example.com>")`);
  }
}

const DEFAULT_PORTS: Readonly<Record<SmtpTlsMode, number>> = { starttls: 587, tls: 465, none: 25 };

/** Builds one instance's transporter; throws a clear message on bad settings or unreadable files. */
export function initSmtp(config: SmtpConfig, deps?: Pick<NotifierDeps, 'log'>): SmtpState {
  if ((config.user === undefined) !== (config.passwordFile === undefined)) throw new Error('user and passwordFile must be set together');
  checkAddress('from', config.from);
  config.to.forEach((t, i) => checkAddress(`to[${i}]`, t));
  const subject = compileSubject(config.subject ?? DEFAULT_SUBJECT);
  const mode: SmtpTlsMode = config.tls ?? 'starttls';
  const password = config.passwordFile === undefined ? undefined : Secret.fromFile(config.passwordFile);
  let ca: string | undefined;
  if (config.caFile !== undefined) {
    try {
      ca = readFileSync(config.caFile, 'utf8');
    } catch (err) {
      throw new Error(`caFile: cannot read ${config.caFile}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
    if (!ca.includes('-----BEGIN CERTIFICATE-----')) throw new Error(`caFile: ${config.caFile} holds no PEM certificate`);
  }
  const port = config.port ?? DEFAULT_PORTS[mode];
  const endpoint = `${config.host}:${port}`;
  if (mode === 'none' && password !== undefined) {
    deps?.log.warn('smtp notifier sends its credentials without TLS', { endpoint, tls: mode });
  }
  const transporter = memoAsync(async () => (await nodemailer()).default.createTransport({
    host: config.host,
    port,
    secure: mode === 'tls',
    requireTLS: mode === 'starttls',
    ignoreTLS: mode === 'none',
    opportunisticTLS: false,
    // With credentials configured, log in even when the server does not advertise AUTH (it then fails).
    forceAuth: password !== undefined,
    tls: {
      rejectUnauthorized: !(config.insecureSkipVerify ?? false),
      minVersion: 'TLSv1.2',
      // caFile adds a CA to the system's roots rather than replacing them.
      ...(ca === undefined ? {} : { ca: [...rootCertificates, ca] }),
    },
    // Bounds of their own, beside the router's per-call timeout (which aborts the send).
    connectionTimeout: 10_000,
    greetingTimeout: 10_000,
    socketTimeout: 30_000,
    dnsTimeout: 10_000,
    logger: false,
    debug: false,
    disableFileAccess: true,
    disableUrlAccess: true,
  }));
  return new SmtpState({ transporter, ...(config.user !== undefined ? { user: config.user } : {}), ...(password !== undefined ? { password } : {}), from: config.from, to: config.to, subject, endpoint });
}


export const smtpNotifier: Notifier<SmtpConfig, SmtpState> = {
  type: 'smtp',
  description: 'E-mail through an SMTP server (STARTTLS or TLS, AUTH), with a text and an HTML body',
  configSchema: SmtpConfigSchema,
  init: (config, deps) => initSmtp(config, deps),
  notify: async (outcome, ctx) => ctx.state.send(mailBody(outcome, ctx.state.subject), ctx.signal),
};
