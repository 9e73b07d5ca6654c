/**
 * kubernetes:annotation — set or remove annotations on the alert's pod, or on its node
 * (`level: node`, refused for tenant rules). An empty value removes the annotation.
 */
import type { Actionner } from '../types.js';
import { metadataActionner, type MetadataParams } from './metadata.js';

export type AnnotationParams = MetadataParams<'annotations'>;

export const annotationActionner: Actionner<AnnotationParams> = metadataActionner({
  field: 'annotations',
  actionner: 'kubernetes:annotation',
  description:
    "Add, change or remove annotations of the pod (or of the pod's node); an empty value removes the annotation",
  done: 'annotated',
  reason: 'Annotated',
  example: { 'talon.dev/alert': 'Terminal shell in container' },
});
