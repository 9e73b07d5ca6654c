/**
 * THE list of notifier types. Adding a notifier is one new file plus one line here; the
 * operator config (`notifiers.<name>: {type, …}`) and the README's list follow from it.
 */
import type { Notifier } from './types.js';
import { k8sEventsNotifier } from './k8sevents.js';
import { smtpNotifier } from './smtp.js';

/** A fresh array of every built-in notifier type, in documentation order. */
export function builtinNotifiers(): Notifier[] {
  return [k8sEventsNotifier, smtpNotifier];
}
