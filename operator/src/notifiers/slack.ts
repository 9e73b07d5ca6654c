/**
 * The `slack` notifier: one message per outcome to a Slack incoming webhook, in Talon's two
 * formats. `long` (default): a headline and an attachment with one field per fact (rule,
 * action, actionner, result, reason, target, Falco rule and priority, alert output, message,
 * artifact, trace id) and the footer; `short`: one attachment line, the headline and the
 * message. The attachment colour says the result: green succeeded, red failed, grey skipped,
 * blue dry run. The webhook URL is a secret: it comes from `webhookUrlFile` only.
 */
import type http from 'node:http';
import { Type, type Static } from '@sinclair/typebox';
import type { Outcome, OutcomeResult } from '../api/v1alpha1/outcome.js';
import type { Notifier } from './types.js';
import { agentFor, secretUrl, sendJson } from './http.js';
import { headline, ruleName, targetName } from './notification.js';

export const SlackConfigSchema = Type.Object(
  {
    webhookUrlFile: Type.String({ minLength: 1, description: 'File holding the incoming-webhook URL (a mounted Secret).' }),
    format: Type.Unsafe<'long' | 'short'>({ type: 'string', enum: ['long', 'short'], default: 'long', description: 'long: one field per fact; short: one line.' }),
    username: Type.String({ default: 'Talon', description: 'Name the message is posted under.' }),
    iconUrl: Type.String({ default: 'https://upload.wikimedia.org/wikipedia/commons/2/26/Circaetus_gallicus_claw.jpg', description: 'Avatar of the message ("" for the webhook default).' }),
    footer: Type.String({ default: 'talon-operator', description: 'Footer of long messages ("" for none).' }),
  },
  { additionalProperties: false },
);
export type SlackConfig = Static<typeof SlackConfigSchema>;

export const SLACK_COLORS: Readonly<Record<OutcomeResult, string>> = {
  Succeeded: '#23ba47',
  Failed: '#e20b0b',
  Skipped: '#a4a8b1',
  DryRun: '#206cff',
};

export interface SlackField {
  readonly title: string;
  readonly value: string;
  readonly short: boolean;
}

export interface SlackBody {
  readonly text?: string;
  readonly username?: string;
  readonly icon_url?: string;
  readonly attachments: readonly { readonly fallback: string; readonly color: string; readonly text?: string; readonly fields?: readonly SlackField[]; readonly footer?: string }[];
}

/** Slack's mrkdwn control characters, escaped as its API asks. */
export const slackEscape = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
const code = (s: string): string => `\`${slackEscape(s).replace(/`/g, "'")}\``;

/** The webhook body of one outcome (pure). */
export function slackBody(o: Outcome, c: Pick<SlackConfig, 'format' | 'username' | 'iconUrl' | 'footer'>): SlackBody {
  const title = headline(o, code);
  const fallback = headline(o);
  const color = SLACK_COLORS[o.result];
  const who = { ...(c.username !== '' ? { username: c.username } : {}), ...(c.iconUrl !== '' ? { icon_url: c.iconUrl } : {}) };
  if (c.format === 'short') {
    return { ...who, attachments: [{ fallback, color, text: `${title}: ${code(o.message)} (trace ${code(o.traceId)})` }] };
  }
  const f = (title: string, value: string, short: boolean): SlackField => ({ title, value, short });
  const fields: SlackField[] = [
    f('Rule', code(ruleName(o)), false),
    f('Action', code(o.action), true),
    f('Actionner', code(o.actionner), true),
    f('Result', code(o.result), true),
    f('Reason', code(o.reason), true),
    f('Target', code(targetName(o)), false),
    f('Falco rule', code(o.falcoRule), true),
    f('Priority', code(o.priority), true),
  ];
  if (o.alert?.output) fields.push(f('Event', code(o.alert.output), false));
  fields.push(f('Message', code(o.message), false));
  if (o.artifact) fields.push(f('Artifact', code(`${o.artifact.output} ${o.artifact.location}`), false));
  fields.push(f('Trace ID', code(o.traceId), false));
  return { text: title, ...who, attachments: [{ fallback, color, fields, ...(c.footer !== '' ? { footer: slackEscape(c.footer) } : {}) }] };
}

interface SlackState {
  readonly url: URL;
  readonly agent: http.Agent;
}

export const slackNotifier: Notifier<SlackConfig, SlackState> = {
  type: 'slack',
  description: 'A message per outcome to a Slack incoming webhook (long or short format, coloured by result)',
  configSchema: SlackConfigSchema,
  init: (config) => {
    const { url } = secretUrl(config.webhookUrlFile, 'the slack webhook URL');
    return { url, agent: agentFor(url, undefined) };
  },
  notify: async (outcome, ctx) => {
    await sendJson({ url: ctx.state.url, label: 'the slack webhook', body: slackBody(outcome, ctx.config), agent: ctx.state.agent, signal: ctx.signal });
  },
};
