/**
 * THE list of notifier types. Adding a notifier is one new file plus one line here; the
 * operator config (`notifiers.<name>: {type, …}`) and the README's list follow from it.
 */
import type { Notifier } from './types.js';
import { k8sEventsNotifier } from './k8sevents.js';
import { slackNotifier } from './slack.js';
import { teamsNotifier } from './teams.js';
import { webhookNotifier } from './webhook.js';
import { lokiNotifier } from './loki.js';
import { elasticsearchNotifier } from './elasticsearch.js';
import { smtpNotifier } from './smtp.js';

/** A fresh array of every built-in notifier type, in documentation order. */
export function builtinNotifiers(): Notifier[] {
  return [
    k8sEventsNotifier,
    slackNotifier,
    teamsNotifier,
    webhookNotifier,
    lokiNotifier,
    elasticsearchNotifier,
    smtpNotifier,
  ];
}
