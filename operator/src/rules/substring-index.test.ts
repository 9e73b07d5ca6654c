import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildSubstringIndex, collectSubstrings } from './substring-index.js';

test('finds every substring that occurs, once per stamp, whatever its length', () => {
  const index = buildSubstringIndex(
    new Map<string, string>([
      ['a', 'A'],
      ['xy', 'XY'],
      ['/etc/shadow', 'SHADOW'],
      ['shadow', 'SHADOW-WORD'],
      ['nothere', 'NO'],
    ]),
  );
  const found: string[] = [];
  collectSubstrings(index, 'cat /etc/shadow; xy', 1, found);
  assert.deepEqual(found.sort(), ['A', 'SHADOW', 'SHADOW-WORD', 'XY']);
  const again: string[] = [];
  collectSubstrings(index, 'a a a', 1, again);
  assert.deepEqual(again, [], 'already reported under this stamp');
  collectSubstrings(index, 'a a a', 2, again);
  assert.deepEqual(again, ['A'], 'a new stamp reports it again, once');
});

test('a gram hit that is not the whole substring is not a match', () => {
  const index = buildSubstringIndex(new Map([['abcdef', 1]]));
  const found: number[] = [];
  collectSubstrings(index, 'xxabcdxx cdefxx', 1, found);
  assert.deepEqual(found, []);
  collectSubstrings(index, 'zabcdefz', 2, found);
  assert.deepEqual(found, [1]);
});
