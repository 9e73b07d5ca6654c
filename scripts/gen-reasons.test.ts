import { test } from 'node:test';
import assert from 'node:assert/strict';
import { OUTCOME_REASONS } from '../operator/src/api/v1alpha1/reasons.js';
import { reasonsFiles, renderReasons, REASONS_DOC } from './gen-reasons.js';

test('docs/reasons.md has one row per catalogued reason, in catalogue order', () => {
  assert.deepEqual(reasonsFiles().map((f) => f.path), [REASONS_DOC]);
  const doc = renderReasons();
  const rows = doc.split('\n').filter((l) => l.startsWith('| `'));
  assert.deepEqual(
    rows.map((l) => /^\| `([A-Za-z]+)` \|/.exec(l)?.[1]),
    Object.keys(OUTCOME_REASONS),
  );
  assert.ok(rows.includes("| `Terminated` | `Succeeded` | actionner | kubernetes:terminate deleted the pod. |"));
  assert.ok(rows.includes('| `NotFound` | `Failed`, `Skipped` | Kubernetes API, actionner | The object is gone (HTTP 404); label and annotation skip when their pod or node is gone. |'));
  assert.ok(rows.some((l) => l.startsWith('| `Cooldown` | — (counted, no outcome) | suppression |')));
  assert.ok(doc.endsWith('|\n'));
});
