/**
 * The `teams` notifier: one Adaptive Card (1.4) per outcome, posted to a Microsoft Teams
 * Workflows webhook ("Post to a channel when a webhook request is received"), the successor
 * of the retired Office 365 connector cards. The card: a headline coloured by result, the
 * message, and a fact set (rule, action, actionner, result, reason, target, Falco rule,
 * priority, alert output, artifact, trace id). The webhook URL is a secret: it comes from
 * `webhookUrlFile` only.
 */
import type http from 'node:http';
import { Type, type Static } from '@sinclair/typebox';
import type { Outcome, OutcomeResult } from '../api/v1alpha1/outcome.js';
import type { Notifier } from './types.js';
import { agentFor, secretUrl, sendJson } from './http.js';
import { headline, ruleName, targetName } from './notification.js';

export const TeamsConfigSchema = Type.Object(
  {
    webhookUrlFile: Type.String({ minLength: 1, description: 'File holding the Teams Workflows webhook URL (a mounted Secret).' }),
  },
  { additionalProperties: false },
);
export type TeamsConfig = Static<typeof TeamsConfigSchema>;

/** Adaptive Card TextBlock colours by result. */
export const TEAMS_COLORS: Readonly<Record<OutcomeResult, string>> = { Succeeded: 'Good', Failed: 'Attention', Skipped: 'Warning', DryRun: 'Accent' };

/** The webhook body of one outcome (pure). */
export function teamsBody(o: Outcome): unknown {
  const facts: { title: string; value: string }[] = [
    { title: 'Rule', value: ruleName(o) },
    { title: 'Action', value: o.action },
    { title: 'Actionner', value: o.actionner },
    { title: 'Result', value: o.result },
    { title: 'Reason', value: o.reason },
    { title: 'Target', value: targetName(o) },
    { title: 'Falco rule', value: o.falcoRule },
    { title: 'Priority', value: o.priority },
  ];
  if (o.alert?.output) facts.push({ title: 'Event', value: o.alert.output });
  if (o.artifact) facts.push({ title: 'Artifact', value: `${o.artifact.output} ${o.artifact.location}` });
  facts.push({ title: 'Trace ID', value: o.traceId });
  return {
    type: 'message',
    attachments: [
      {
        contentType: 'application/vnd.microsoft.card.adaptive',
        content: {
          $schema: 'http://adaptivecards.io/schemas/adaptive-card.json',
          type: 'AdaptiveCard',
          version: '1.4',
          body: [
            { type: 'TextBlock', text: headline(o), weight: 'Bolder', size: 'Medium', color: TEAMS_COLORS[o.result], wrap: true },
            { type: 'TextBlock', text: o.message, wrap: true },
            { type: 'FactSet', facts },
          ],
        },
      },
    ],
  };
}

interface TeamsState {
  readonly url: URL;
  readonly agent: http.Agent;
}

export const teamsNotifier: Notifier<TeamsConfig, TeamsState> = {
  type: 'teams',
  description: 'An Adaptive Card per outcome to a Microsoft Teams Workflows webhook',
  configSchema: TeamsConfigSchema,
  init: (config) => {
    const { url } = secretUrl(config.webhookUrlFile, 'the teams webhook URL');
    return { url, agent: agentFor(url, undefined) };
  },
  notify: async (outcome, ctx) => {
    await sendJson({ url: ctx.state.url, label: 'the teams webhook', body: teamsBody(outcome), agent: ctx.state.agent, signal: ctx.signal });
  },
};
