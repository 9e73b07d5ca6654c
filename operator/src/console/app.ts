/**
 * The console (DESIGN.md, STYLE.md `console/`): an express app on its own management port —
 * never on the intake path, which stays plain node:http. Pages for the timeline of outcomes
 * (with a chart), rules, one target object, and pending approvals; each route answers JSON
 * instead of HTML when the request prefers `application/json` (docs/console.md).
 *
 * Security: sign-in with a Kubernetes bearer token (TokenReview); an opaque session cookie
 * (HttpOnly, SameSite=Strict, Secure under TLS); every read filtered by SubjectAccessReviews
 * of the signed-in user; every state change (POST) needs the session's synchroniser CSRF
 * token and a same-origin request (Origin / Sec-Fetch-Site); helmet's security headers with a
 * `'self'`-only Content-Security-Policy.
 */
import { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';
import express, { type NextFunction, type Request, type Response } from 'express';
import helmet from 'helmet';
import { fromKubeError } from '../errors.js';
import { GROUP } from '../api/v1alpha1/types.js';
import type { LogPort } from '../lib/log.js';
import { Access } from './access.js';
import type { AuthPort } from './access.js';
import { CONSOLE_CSS, CONSOLE_JS } from './assets.js';
import type { Html } from './html.js';
import { csrfMatches, SessionStore, type Session } from './session.js';
import { APPROVAL_PLURAL, type ConsoleSource, type Decision, type OutcomeEvent, type RuleObject } from './source.js';
import { approvalsPage, errorPage, loginPage, rulesPage, targetPage, timelinePage, type Chart, type RuleRow, type TimelineFilters } from './views.js';

export const SESSION_COOKIE = 'talon_console';
/** Timeline rows rendered at most (newest first); the chart counts every matching outcome. */
export const TIMELINE_ROWS = 200;

export interface ConsoleDeps {
  readonly source: ConsoleSource;
  readonly auth: AuthPort;
  readonly sessionTtlMs: number;
  readonly accessCacheTtlMs: number;
  /** Whether the console is served over TLS (the cookie gets `Secure`). */
  readonly secure: boolean;
  readonly log: LogPort;
  readonly now?: () => number;
}

const EVENTS = { group: 'events.k8s.io', resource: 'events' } as const;
const require = createRequire(import.meta.url);
const UPLOT_JS = readFileSync(require.resolve('uplot/dist/uPlot.iife.min.js'), 'utf8');
const UPLOT_CSS = readFileSync(require.resolve('uplot/dist/uPlot.min.css'), 'utf8');

/** A request that has passed the session check. */
type Authed = Request & { session: Session };

function cookie(req: Request, name: string): string | undefined {
  for (const part of (req.headers.cookie ?? '').split(';')) {
    const i = part.indexOf('=');
    if (i > 0 && part.slice(0, i).trim() === name) return decodeURIComponent(part.slice(i + 1).trim());
  }
  return undefined;
}

const wantsJson = (req: Request): boolean => req.accepts(['html', 'json']) === 'json';

/**
 * Whether a state-changing request comes from the console's own pages. Browsers send
 * Sec-Fetch-Site (fetch metadata), which wins; without it a non-null Origin must be ours.
 * (Chromium sends `Origin: null` on form posts under a no-referrer policy, hence not Origin first.)
 */
function sameOrigin(req: Request): boolean {
  const site = req.headers['sec-fetch-site'];
  if (site !== undefined) return site === 'same-origin' || site === 'none';
  const origin = req.headers.origin;
  if (origin === undefined || origin === 'null') return true;
  return origin === `${req.protocol}://${req.headers.host ?? ''}`;
}

export function createConsoleApp(deps: ConsoleDeps): express.Express {
  const sessions = new SessionStore({ ttlMs: deps.sessionTtlMs, ...(deps.now ? { now: deps.now } : {}) });
  const access = new Access(deps.auth, deps.accessCacheTtlMs, deps.now);
  const app = express();
  app.disable('x-powered-by');
  app.set('query parser', 'simple');
  app.use(
    helmet({
      contentSecurityPolicy: { directives: { defaultSrc: ["'self'"], scriptSrc: ["'self'"], styleSrc: ["'self'"], imgSrc: ["'self'", 'data:'], formAction: ["'self'"], frameAncestors: ["'none'"], upgradeInsecureRequests: deps.secure ? [] : null } },
      strictTransportSecurity: deps.secure,
      referrerPolicy: { policy: 'same-origin' },
    }),
  );
  app.use(express.urlencoded({ extended: false, limit: '64kb' }));
  app.use(express.json({ limit: '64kb' }));

  const send = (req: Request, res: Response, status: number, json: unknown, page: () => Html): void => {
    res.status(status);
    if (wantsJson(req)) res.json(json);
    else res.type('html').send(page().text);
  };
  const fail = (req: Request, res: Response, status: number, message: string): void =>
    send(req, res, status, { error: message }, () => errorPage((req as Partial<Authed>).session, status, message));

  const staticFile = (type: string, body: string) => (_req: Request, res: Response) => res.type(type).set('cache-control', 'public, max-age=3600').send(body);
  app.get('/static/console.css', staticFile('css', CONSOLE_CSS));
  app.get('/static/console.js', staticFile('js', CONSOLE_JS));
  app.get('/static/uPlot.iife.min.js', staticFile('js', UPLOT_JS));
  app.get('/static/uPlot.min.css', staticFile('css', UPLOT_CSS));
  app.get('/healthz', (_req, res) => res.type('text').send('ok'));
  app.get('/favicon.ico', (_req, res) => res.status(204).end());

  // CSRF: every state change must come from our own origin, and (once signed in) carry the session's token.
  app.use((req, res, next) => {
    if (req.method === 'GET' || req.method === 'HEAD') return next();
    if (!sameOrigin(req)) return fail(req, res, 403, 'cross-site request refused');
    next();
  });

  app.get('/login', (_req, res) => res.type('html').send(loginPage().text));
  app.post('/login', async (req, res) => {
    const token = typeof req.body?.token === 'string' ? req.body.token.trim() : '';
    if (token === '') return send(req, res, 400, { error: 'token is required' }, () => loginPage('A token is required.'));
    try {
      const r = await deps.auth.tokenReview(token);
      if (!r.authenticated) return send(req, res, 401, { error: r.error }, () => loginPage(`The API server refused this token: ${r.error}`));
      const s = sessions.create(r.user, token);
      res.cookie(SESSION_COOKIE, s.id, { httpOnly: true, sameSite: 'strict', secure: deps.secure, path: '/', maxAge: deps.sessionTtlMs });
      deps.log.info('console sign-in', { user: r.user.username });
      if (wantsJson(req)) return res.json({ user: r.user.username, csrfToken: s.csrf });
      res.redirect(303, '/timeline');
    } catch (err) {
      deps.log.warn('console TokenReview failed', { error: String(err) });
      send(req, res, 502, { error: 'TokenReview failed' }, () => loginPage('The token could not be checked (TokenReview failed); see the operator log.'));
    }
  });

  // Everything below needs a session.
  app.use((req, res, next) => {
    const s = sessions.get(cookie(req, SESSION_COOKIE));
    if (s === undefined) {
      if (wantsJson(req)) return void res.status(401).json({ error: 'sign in first: POST /login with a token' });
      return res.redirect(303, '/login');
    }
    (req as Authed).session = s;
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      const submitted = req.headers['x-csrf-token'] ?? (req.body as Record<string, unknown> | undefined)?._csrf;
      if (!csrfMatches(s, submitted)) return fail(req, res, 403, 'missing or wrong CSRF token: the request was refused');
    }
    next();
  });

  const route = (handler: (req: Authed, res: Response) => Promise<void>) => (req: Request, res: Response, next: NextFunction) =>
    handler(req as Authed, res).catch((err: unknown) => {
      const e = fromKubeError(err);
      deps.log.warn('console request failed', { path: req.path, code: e.code, error: e.message });
      if (res.headersSent) return next(err);
      fail(req, res, 502, `the Kubernetes API answered: ${e.message}`);
    });

  app.post('/logout', (req, res) => {
    sessions.destroy((req as Authed).session.id);
    res.clearCookie(SESSION_COOKIE, { path: '/' });
    if (wantsJson(req)) return void res.json({ signedOut: true });
    res.redirect(303, '/login');
  });
  app.get('/', (_req, res) => res.redirect(303, '/timeline'));
  app.get('/session', (req, res) => void res.json({ user: (req as Authed).session.user.username, csrfToken: (req as Authed).session.csrf }));

  /** The outcome Events the user may see (list events in their namespace). */
  const visibleOutcomes = async (s: Session): Promise<OutcomeEvent[]> => {
    const all = await deps.source.outcomeEvents();
    const ok = await access.namespacesAllowed(s, 'list', EVENTS.group, EVENTS.resource, all.map((e) => e.namespace));
    return all.filter((e) => ok.has(e.namespace));
  };
  /** The rules the user may list. */
  const visibleRules = async (s: Session): Promise<RuleObject[]> => {
    const all = await deps.source.rules();
    const nsOk = await access.namespacesAllowed(s, 'list', GROUP, 'talonrules', all.filter((r) => r.kind === 'TalonRule').map((r) => r.metadata.namespace ?? ''));
    const clusterOk = all.some((r) => r.kind === 'ClusterTalonRule') && (await access.can(s, { verb: 'list', group: GROUP, resource: 'clustertalonrules', namespace: '' }));
    return all.filter((r) => (r.kind === 'ClusterTalonRule' ? clusterOk : nsOk.has(r.metadata.namespace ?? '')));
  };

  app.get(
    '/timeline',
    route(async (req, res) => {
      const q = req.query as Record<string, string | undefined>;
      const f: TimelineFilters = { namespace: q.namespace ?? '', rule: q.rule ?? '', actionner: q.actionner ?? '', result: q.result ?? '' };
      const visible = await visibleOutcomes(req.session);
      const ruleName = (e: OutcomeEvent): string => (e.rule ? `${e.rule.namespace ? `${e.rule.namespace}/` : ''}${e.rule.name}` : '');
      const items = visible.filter(
        (e) =>
          (f.namespace === '' || e.namespace === f.namespace) &&
          (f.rule === '' || ruleName(e) === f.rule) &&
          (f.actionner === '' || e.actionner === f.actionner) &&
          (f.result === '' || e.result === f.result),
      );
      const uniq = (xs: string[]): string[] => [...new Set(xs.filter((x) => x !== ''))].sort();
      const choices = {
        namespace: uniq(visible.map((e) => e.namespace)),
        rule: uniq(visible.map(ruleName)),
        actionner: uniq(visible.map((e) => e.actionner)),
        result: ['Succeeded', 'Failed', 'Skipped', 'DryRun'],
      };
      const chart = chartOf(items, (deps.now ?? Date.now)());
      const shown = items.slice(0, TIMELINE_ROWS);
      send(req, res, 200, { filters: f, total: items.length, items: shown, chart }, () => timelinePage(req.session, f, choices, shown, chart, items.length));
    }),
  );

  app.get(
    '/rules',
    route(async (req, res) => {
      const rows = (await visibleRules(req.session)).map(ruleRow);
      send(req, res, 200, { items: rows }, () => rulesPage(req.session, rows));
    }),
  );

  app.get(
    '/targets/:namespace/:kind/:name',
    route(async (req, res) => {
      const { namespace = '', kind = '', name = '' } = req.params as Record<string, string | undefined>;
      if (!(await access.can(req.session, { verb: 'list', ...EVENTS, namespace }))) {
        return fail(req, res, 403, `you may not list Events in namespace ${namespace}`);
      }
      const events = (await deps.source.outcomeEvents()).filter((e) => e.regarding.kind === kind && e.regarding.name === name && (e.regarding.namespace ?? e.namespace) === namespace);
      const statusOutcomes = (await visibleRules(req.session)).flatMap((r) =>
        (r.status?.lastOutcomes ?? [])
          .filter((o) => o.target?.kind === kind && o.target?.name === name && o.target?.namespace === namespace)
          .map((o) => ({ rule: `${r.kind} ${r.metadata.namespace ? `${r.metadata.namespace}/` : ''}${r.metadata.name}`, time: o.time, result: o.result, action: o.action, ...(o.actionner ? { actionner: o.actionner } : {}), ...(o.message ? { message: o.message } : {}) })),
      );
      statusOutcomes.sort((a, b) => (a.time < b.time ? 1 : -1));
      const view = { kind, namespace, name, events, statusOutcomes };
      send(req, res, 200, view, () => targetPage(req.session, view));
    }),
  );

  const approvalsRows = async (s: Session) => {
    const { installed, items } = await deps.source.approvals();
    const namespaces = items.map((a) => a.metadata.namespace ?? '');
    const listOk = await access.namespacesAllowed(s, 'list', GROUP, APPROVAL_PLURAL, namespaces);
    const decideOk = await access.namespacesAllowed(s, 'approve', GROUP, APPROVAL_PLURAL, [...listOk]);
    const rows = items.filter((a) => listOk.has(a.metadata.namespace ?? '')).map((approval) => ({ approval, canDecide: decideOk.has(approval.metadata.namespace ?? '') }));
    return { installed, rows };
  };

  app.get(
    '/approvals',
    route(async (req, res) => {
      const { installed, rows } = await approvalsRows(req.session);
      const message = typeof req.query.decided === 'string' ? `Recorded: ${req.query.decided}` : undefined;
      send(req, res, 200, { installed, items: rows.map((r) => ({ ...r.approval, canDecide: r.canDecide })) }, () => approvalsPage(req.session, installed, rows, message));
    }),
  );

  app.post(
    '/approvals/:namespace/:name/:verb',
    route(async (req, res) => {
      const { namespace = '', name = '', verb = '' } = req.params as Record<string, string | undefined>;
      const decision: Decision | undefined = verb === 'approve' ? 'Approved' : verb === 'reject' ? 'Rejected' : undefined;
      if (decision === undefined) return fail(req, res, 404, `unknown decision ${JSON.stringify(verb)}: approve or reject`);
      if (!(await access.can(req.session, { verb: 'approve', group: GROUP, resource: APPROVAL_PLURAL, namespace }))) {
        return fail(req, res, 403, `you may not approve TalonApprovals in namespace ${namespace} (needs the verb approve on talonapprovals.talon.dev)`);
      }
      const { installed } = await deps.source.approvals();
      if (!installed) return fail(req, res, 404, 'the TalonApproval kind is not installed in this cluster');
      const reason = typeof (req.body as Record<string, unknown>)?.reason === 'string' ? String((req.body as Record<string, unknown>).reason).slice(0, 1024) : '';
      try {
        await deps.source.decide(req.session.token, namespace, name, decision, reason);
      } catch (err) {
        const e = fromKubeError(err);
        if (e.status === 403 || e.status === 404 || e.status === 422 || e.status === 409) return fail(req, res, e.status, `the API server refused the decision: ${e.message}`);
        throw err;
      }
      deps.log.info('console approval decided', { user: req.session.user.username, namespace, name, decision });
      if (wantsJson(req)) return void res.json({ namespace, name, decision });
      res.redirect(303, `/approvals?decided=${encodeURIComponent(`${namespace}/${name} ${decision}`)}`);
    }),
  );

  app.use((req: Request, res: Response) => fail(req, res, 404, 'no such page'));
  return app;
}

function ruleRow(r: RuleObject): RuleRow {
  const ready = r.status?.conditions?.find((c) => c.type === 'Ready');
  const st = r.status;
  return {
    kind: r.kind,
    namespace: r.metadata.namespace ?? '',
    name: r.metadata.name ?? '',
    ready: ready?.status ?? 'Unknown',
    readyReason: ready?.reason ?? '',
    readyMessage: ready?.message ?? '',
    matchedEvents: st?.matchedEvents ?? 0,
    suppressedEvents: st?.suppressedEvents ?? 0,
    results: Object.fromEntries(Object.entries(st?.results ?? {}).filter(([, v]) => typeof v === 'number' && v > 0)) as Record<string, number>,
    lastMatchedTime: st?.lastMatchedTime ?? '',
    lastOutcomes: (st?.lastOutcomes ?? []).map((o) => ({ time: o.time, result: o.result, action: o.action, ...(o.target ? { target: o.target } : {}), ...(o.message ? { message: o.message } : {}) })),
  };
}

/**
 * Outcomes per minute by result (weighted by each Event's occurrence count), for uPlot: the
 * last hour up to `nowMs` (Events live one hour by default), reaching back to older items.
 */
export function chartOf(items: readonly OutcomeEvent[], nowMs: number): Chart {
  const minutes = new Map<number, Map<string, number>>();
  const results = new Set<string>();
  for (const e of items) {
    const t = Date.parse(e.time);
    if (Number.isNaN(t)) continue;
    const m = Math.floor(t / 60_000) * 60;
    const row = minutes.get(m) ?? new Map<string, number>();
    row.set(e.result, (row.get(e.result) ?? 0) + e.count);
    minutes.set(m, row);
    results.add(e.result);
  }
  const now = Math.floor(nowMs / 60_000) * 60;
  const first = Math.min(now - 3600, ...minutes.keys());
  const last = Math.max(now, ...minutes.keys());
  const times: number[] = [];
  for (let t = first; t <= last; t += 60) times.push(t);
  const series = [...results].sort().map((result) => ({ result, counts: times.map((t) => minutes.get(t)?.get(result) ?? 0) }));
  return { times, series };
}
