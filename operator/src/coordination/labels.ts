/** Names, labels and annotations of the Leases the coordination room owns. */
import { hash } from 'node:crypto';

export const MANAGED_BY = Object.freeze({ 'app.kubernetes.io/managed-by': 'talon-operator' });
/** Which coordination object a Lease is: `claim` or `budget`. The sweeper lists by it. */
export const KIND_LABEL = 'talon.dev/coordination';

export const STATE_ANNOTATION = 'talon.dev/claim-state';
export const WINDOW_END_ANNOTATION = 'talon.dev/window-end';
export const RULE_ANNOTATION = 'talon.dev/rule';
export const TARGET_ANNOTATION = 'talon.dev/target';

/**
 * The claim Lease of (rule, target): a hash, so any rule and object name fit a DNS label and
 * every replica computes the same name. Length-prefixed parts cannot run into each other.
 */
export function claimName(ruleKey: string, targetKey: string): string {
  return `talon-claim-${hash('sha256', `${ruleKey.length}:${ruleKey}${targetKey.length}:${targetKey}`, 'hex').slice(0, 40)}`;
}

export const budgetSlotName = (slot: number): string => `talon-budget-${slot}`;
