/**
 * The console's pages: plain server-rendered HTML (html.ts escapes every value), one
 * function per page, fed the same data the JSON API answers with.
 */
import { html, jsonData, type Html } from './html.js';
import type { Approval, OutcomeEvent } from './source.js';
import type { Session } from './session.js';

export interface RuleRow {
  readonly kind: string;
  readonly namespace: string;
  readonly name: string;
  readonly ready: string;
  readonly readyReason: string;
  readonly readyMessage: string;
  readonly matchedEvents: number;
  readonly suppressedEvents: number;
  readonly results: Readonly<Record<string, number>>;
  readonly lastMatchedTime: string;
  readonly lastOutcomes: readonly { time: string; result: string; action: string; target?: { kind: string; namespace?: string; name: string }; message?: string }[];
}

export interface TimelineFilters {
  readonly namespace: string;
  readonly rule: string;
  readonly actionner: string;
  readonly result: string;
}

export interface Chart {
  /** Minute starts, seconds since the epoch. */
  readonly times: readonly number[];
  readonly series: readonly { result: string; counts: readonly number[] }[];
}

const NAV = [
  ['/timeline', 'Timeline'],
  ['/rules', 'Rules'],
  ['/approvals', 'Approvals'],
] as const;

export function layout(title: string, current: string, session: Session | undefined, body: Html): Html {
  return html`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${title} · talon console</title>
<link rel="stylesheet" href="/static/console.css"><link rel="stylesheet" href="/static/uPlot.min.css"></head>
<body><header><strong>talon</strong>${
    session
      ? html`${NAV.map(([href, label]) => html`<a href="${href}" class="${href === current ? 'current' : ''}">${label}</a>`)}
<span class="who">signed in as <code>${session.user.username}</code></span>
<form method="post" action="/logout"><input type="hidden" name="_csrf" value="${session.csrf}"><button type="submit">Sign out</button></form>`
      : ''
  }</header>
<main><h1>${title}</h1>${body}</main>
<script src="/static/uPlot.iife.min.js"></script><script src="/static/console.js"></script></body></html>`;
}

export function loginPage(error?: string): Html {
  return layout(
    'Sign in',
    '/login',
    undefined,
    html`${error ? html`<p class="error" id="login-error">${error}</p>` : ''}
<p>Paste a Kubernetes bearer token (for example <code>kubectl create token NAME</code>). It is checked with a TokenReview and kept
only in this operator process's memory for the session; what you see is decided by your RBAC, as for kubectl.</p>
<form method="post" action="/login"><textarea name="token" rows="6" required autocomplete="off"></textarea><p><button type="submit">Sign in</button></p></form>`,
  );
}

const resultCell = (r: string): Html => html`<td class="${r}">${r}</td>`;
const ref = (t: { kind: string; namespace?: string; name: string }): string => `${t.kind} ${t.namespace ? `${t.namespace}/` : ''}${t.name}`;
const targetLink = (t: { kind: string; namespace?: string; name: string }): Html =>
  t.namespace ? html`<a href="/targets/${encodeURIComponent(t.namespace)}/${encodeURIComponent(t.kind)}/${encodeURIComponent(t.name)}">${ref(t)}</a>` : html`${ref(t)}`;

export function rulesPage(session: Session, rows: readonly RuleRow[]): Html {
  return layout(
    'Rules',
    '/rules',
    session,
    html`<p class="note">Rules you may list (TalonRules per namespace, ClusterTalonRules cluster-wide), with the counters and last outcomes of their status.</p>
<table id="rules"><thead><tr><th>Kind</th><th>Namespace</th><th>Name</th><th>Ready</th><th>Matched</th><th>Suppressed</th><th>Results</th><th>Last match</th><th>Last outcomes</th></tr></thead><tbody>
${rows.map(
  (r) => html`<tr data-rule="${r.namespace}/${r.name}"><td>${r.kind}</td><td>${r.namespace}</td><td>${r.name}</td><td title="${r.readyMessage}">${r.ready} <span class="note">${r.readyReason}</span></td>
<td>${r.matchedEvents}</td><td>${r.suppressedEvents}</td><td>${Object.entries(r.results).map(([k, v]) => html`<span class="${k}">${k} ${v}</span> `)}</td><td>${r.lastMatchedTime}</td>
<td>${r.lastOutcomes.slice(0, 3).map((o) => html`<div><span class="${o.result}">${o.result}</span> ${o.action} → ${o.target ? targetLink(o.target) : '—'} <span class="note">${o.time}</span></div>`)}</td></tr>`,
)}</tbody></table>${rows.length === 0 ? html`<p class="notice" id="no-rules">No rules that you may see.</p>` : ''}`,
  );
}

function select(name: string, current: string, values: readonly string[]): Html {
  return html`<label>${name} <select name="${name}"><option value="">any</option>${values.map((v) => html`<option value="${v}"${v === current ? html` selected` : ''}>${v}</option>`)}</select></label>`;
}

export function timelinePage(session: Session, f: TimelineFilters, choices: Record<keyof TimelineFilters, readonly string[]>, items: readonly OutcomeEvent[], chart: Chart, total: number): Html {
  return layout(
    'Timeline',
    '/timeline',
    session,
    html`<p class="note">Outcomes recorded as Events by the operator in the namespaces where you may list Events. The API server keeps Events for one hour by default (<code>--event-ttl</code>); durable history belongs to the Loki or Elasticsearch notifiers.</p>
<form class="filters" method="get" action="/timeline">${select('namespace', f.namespace, choices.namespace)}${select('rule', f.rule, choices.rule)}${select('actionner', f.actionner, choices.actionner)}${select('result', f.result, choices.result)}<button type="submit">Filter</button></form>
<div id="chart"></div><script type="application/json" id="chart-data">${jsonData(chart)}</script>
<table id="timeline"><thead><tr><th>Time</th><th>Result</th><th>Actionner</th><th>Target</th><th>Rule</th><th>Count</th><th>Message</th><th>Trace</th></tr></thead><tbody>
${items.map(
  (e) => html`<tr><td>${e.time}</td>${resultCell(e.result)}<td>${e.actionner}</td><td>${targetLink(e.regarding)}</td><td>${e.rule ? ref(e.rule) : ''}</td><td>${e.count}</td><td class="note">${e.note}</td><td><code>${e.traceId ?? ''}</code></td></tr>`,
)}</tbody></table>${items.length === 0 ? html`<p class="notice" id="no-outcomes">No outcomes that you may see.</p>` : ''}${
      total > items.length ? html`<p class="notice" id="more-outcomes">The newest ${items.length} of ${total} outcomes; narrow the filters to see others.</p>` : ''
    }`,
  );
}

export interface TargetView {
  readonly kind: string;
  readonly namespace: string;
  readonly name: string;
  readonly events: readonly OutcomeEvent[];
  readonly statusOutcomes: readonly { rule: string; time: string; result: string; action: string; actionner?: string; message?: string }[];
}

export function targetPage(session: Session, t: TargetView): Html {
  return layout(
    `${t.kind} ${t.namespace}/${t.name}`,
    '',
    session,
    html`<p class="note">What the operator's Events (kept one hour by default by the API server) and the rules' <code>status.lastOutcomes</code> (the last 10 per rule) still hold about this object. Older history: the Loki or Elasticsearch notifiers.</p>
<h2>Events</h2><table id="target-events"><thead><tr><th>Time</th><th>Result</th><th>Actionner</th><th>Rule</th><th>Count</th><th>Message</th><th>Trace</th></tr></thead><tbody>
${t.events.map((e) => html`<tr><td>${e.time}</td>${resultCell(e.result)}<td>${e.actionner}</td><td>${e.rule ? ref(e.rule) : ''}</td><td>${e.count}</td><td class="note">${e.note}</td><td><code>${e.traceId ?? ''}</code></td></tr>`)}
</tbody></table>${t.events.length === 0 ? html`<p class="notice">No Events left about this object.</p>` : ''}
<h2>Rule status</h2><table id="target-status"><thead><tr><th>Time</th><th>Rule</th><th>Action</th><th>Result</th><th>Message</th></tr></thead><tbody>
${t.statusOutcomes.map((o) => html`<tr><td>${o.time}</td><td>${o.rule}</td><td>${o.action} <span class="note">${o.actionner ?? ''}</span></td>${resultCell(o.result)}<td class="note">${o.message ?? ''}</td></tr>`)}
</tbody></table>`,
  );
}

export interface ApprovalRow {
  readonly approval: Approval;
  readonly canDecide: boolean;
}

export function approvalsPage(session: Session, installed: boolean, rows: readonly ApprovalRow[], message?: string): Html {
  if (!installed) {
    return layout(
      'Approvals',
      '/approvals',
      session,
      html`<p class="notice" id="approvals-absent">Approvals are not available: the TalonApproval kind (talonapprovals.talon.dev) is not installed in this cluster.</p>`,
    );
  }
  return layout(
    'Approvals',
    '/approvals',
    session,
    html`${message ? html`<p class="notice" id="approval-message">${message}</p>` : ''}
<p class="note">Actions waiting for a person's decision, in the namespaces where you may list TalonApprovals. Deciding needs the <code>approve</code> verb on talonapprovals; the decision is written with your own token.</p>
<table id="approvals"><thead><tr><th>Namespace</th><th>Name</th><th>Phase</th><th>Rule</th><th>Action</th><th>Target</th><th>Alert</th><th>Expires</th><th>Decision</th></tr></thead><tbody>
${rows.map(({ approval: a, canDecide }) => {
  const ns = a.metadata.namespace ?? '';
  const name = a.metadata.name ?? '';
  const path = `/approvals/${encodeURIComponent(ns)}/${encodeURIComponent(name)}`;
  const s = a.spec;
  return html`<tr data-approval="${ns}/${name}"><td>${ns}</td><td>${name}</td><td>${a.status?.phase ?? 'Pending'}</td><td>${s.rule?.name ?? ''}</td><td>${s.action?.name ?? ''} <span class="note">${s.action?.actionner ?? ''}</span></td>
<td>${s.target?.name ? targetLink({ kind: s.target.kind ?? 'Pod', ...(s.target.namespace ? { namespace: s.target.namespace } : {}), name: s.target.name }) : ''}</td><td class="note">${s.alert?.rule ?? ''} ${s.alert?.priority ?? ''}<br>${s.alert?.output ?? ''}</td><td>${s.expiresAt ?? ''}</td>
<td>${
    s.decision
      ? html`${s.decision} <span class="note">${s.decisionReason ?? ''}</span>`
      : canDecide
        ? html`<form method="post" action="${path}/approve"><input type="hidden" name="_csrf" value="${session.csrf}"><input name="reason" placeholder="reason"><button type="submit" name="decision" value="approve">Approve</button></form>
<form method="post" action="${path}/reject"><input type="hidden" name="_csrf" value="${session.csrf}"><input type="hidden" name="reason" value=""><button type="submit">Reject</button></form>`
        : html`<span class="note">you may not decide</span>`
  }</td></tr>`;
})}</tbody></table>${rows.length === 0 ? html`<p class="notice" id="no-approvals">No approvals that you may see.</p>` : ''}`,
  );
}

export function errorPage(session: Session | undefined, status: number, message: string): Html {
  return layout(status === 403 ? 'Forbidden' : 'Error', '', session, html`<p class="error" id="error">${status}: ${message}</p>`);
}
