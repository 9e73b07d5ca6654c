import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { clip, labelValue, LABEL_VALUE_MAX } from './clip.js';

const VALID = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;

describe('clip', () => {
  it('keeps short text and clips long text with an ellipsis, within the limit', () => {
    assert.equal(clip('abc', 3), 'abc');
    assert.equal(clip('abcd', 3), 'ab…');
    const big = 'r'.repeat(1 << 20);
    assert.equal(clip(big, 256).length, 256);
    assert.ok(clip(big, 256).endsWith('…'));
  });

  it('never splits a surrogate pair', () => {
    const s = `${'a'.repeat(8)}😀😀😀`;
    const c = clip(s, 10);
    assert.ok(c.length <= 10);
    assert.equal(c, `${'a'.repeat(8)}…`);
    assert.doesNotThrow(() => new TextDecoder('utf-8', { fatal: true }).decode(new TextEncoder().encode(c)));
  });
});

describe('labelValue', () => {
  it('keeps a valid value as it is', () => {
    assert.equal(labelValue('terminal-shell'), 'terminal-shell');
    assert.equal(labelValue(''), '');
  });

  it('a long rule name whose 63rd character is a dash or dot becomes a valid, distinct value', () => {
    const a = `${'a'.repeat(54)}-.${'b'.repeat(200)}`;
    const b = `${'a'.repeat(54)}-.${'c'.repeat(200)}`;
    for (const name of [a, b, 'x'.repeat(62) + '-' + 'y'.repeat(190), 'z'.repeat(300), '-.-', 'Ünïcode rule ✓']) {
      const v = labelValue(name);
      assert.ok(v.length <= LABEL_VALUE_MAX, `${v.length}`);
      assert.match(v, VALID, v);
    }
    assert.notEqual(labelValue(a), labelValue(b));
  });
});
