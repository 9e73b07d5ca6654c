/**
 * kubernetes:label — set or remove labels on the alert's pod, or on its node (`level: node`,
 * which makes the use node-scoped: refused for tenant rules). An empty value removes the label.
 */
import type { Actionner } from '../types.js';
import { LABEL_VALUE_PATTERN, metadataActionner, type MetadataParams } from './metadata.js';

export type LabelParams = MetadataParams<'labels'>;

export const labelActionner: Actionner<LabelParams> = metadataActionner({
  field: 'labels',
  actionner: 'kubernetes:label',
  description: "Add, change or remove labels of the pod (or of the pod's node); an empty value removes the label",
  done: 'labeled',
  reason: 'Labeled',
  valuePattern: LABEL_VALUE_PATTERN,
  example: { 'talon.dev/suspicious': 'true', 'app.kubernetes.io/exposed': '' },
});
