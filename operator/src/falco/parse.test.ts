import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { findLongIntegers, parseLossless } from './lossless-json.js';
import { isRfc3339, parseAlert, type ParseResult } from './parse.js';
import type { FalcoEvent } from './event.js';
import { eventsDir } from '../../test/builders.js';

/** operator/test/fixtures/events, found from the working directory or above the compiled file. */

const CTX = { receivedAt: 1, traceId: 't-1' };
const FIXTURES = eventsDir();
const sample = (name: string): string => readFileSync(join(FIXTURES, name), 'utf8');

function ok(body: string | Buffer): FalcoEvent {
  const r = parseAlert(body, CTX);
  if (!r.ok) assert.fail(`expected ok, got: ${r.message}`);
  return r.event;
}

function rejected(body: string): string {
  const r: ParseResult = parseAlert(body, CTX);
  if (r.ok) assert.fail(`expected a rejection for ${body}`);
  return r.message;
}

const alert = (extra: string): string => `{"rule":"R","priority":"Warning"${extra}}`;

describe('parseAlert: samples', () => {
  for (const name of readdirSync(FIXTURES).filter((f) => f.endsWith('.json'))) {
    test(name, () => {
      const text = sample(name);
      const ev = ok(text);
      const plain = JSON.parse(text) as Record<string, unknown>;
      assert.equal(ev.rule, plain.rule);
      assert.equal(ev.priority, plain.priority);
      assert.equal(ev.source, (plain.source as string | undefined) ?? 'syscall');
      assert.equal(ev.time, plain.time);
      assert.equal(ev.output, plain.output);
      assert.deepEqual(ev.tags, plain.tags ?? []);
      assert.deepEqual(Object.keys(ev.outputFields), Object.keys(plain.output_fields as object));
      assert.ok(ev.priorityLevel >= 1);
      assert.equal(ev.traceId, 't-1');
      assert.equal(ev.receivedAt, 1);
      assert.ok(Object.isFrozen(ev) && Object.isFrozen(ev.tags) && Object.isFrozen(ev.outputFields));
    });
  }

  test('terminal shell: exact evt.time, nulls, negative numbers', () => {
    const ev = ok(sample('terminal-shell-in-container.json'));
    assert.equal(ev.outputFields['evt.time'], 1685022245478445995n);
    assert.equal(ev.outputFields['user.loginuid'], -1);
    assert.equal(ev.outputFields['proc.tty'], 34816);
    assert.equal(ev.priority, 'Critical');
    assert.equal(ev.priorityLevel, 6);
    assert.equal(ev.hostname, 'falco-xczjd');
  });

  test('uint64 values above 2^53 keep every digit; bracket keys stay flat', () => {
    const ev = ok(sample('drop-and-execute-new-binary-in-container.json'));
    assert.equal(ev.outputFields['proc.exe_ino.ctime_duration_proc_start'], 18446744073670260079n);
    assert.equal(ev.outputFields['proc.exe_ino.mtime'], 4707072802758275760n);
    assert.equal(ev.outputFields['container.start_ts'], 1783673133883078682n);
    assert.equal(ev.outputFields['proc.aname[2]'], 'systemd');
    assert.equal(ev.outputFields['k8s.pod.name'], null);
    assert.ok(Object.hasOwn(ev.outputFields, 'k8s.pod.name'));
  });

  test('a value JSON.parse would round is kept as written', () => {
    const ev = ok(sample('netcat-remote-code-execution-in-container.json'));
    assert.equal(ev.outputFields['evt.time'], 1652218787159547100n);
    assert.equal(ev.source, 'syscall');
  });

  test('source defaults to syscall when absent', () => {
    assert.equal(ok(sample('custom__kubernetes-outbound-connection.json')).source, 'syscall');
    assert.equal(ok(alert(',"source":""')).source, 'syscall');
    assert.equal(ok(sample('k8saudit__k8s-serviceaccount-created.json')).source, 'k8s_audit');
  });
});

describe('parseAlert: numbers', () => {
  const fieldsOf = (fields: string): FalcoEvent['outputFields'] => ok(alert(`,"output_fields":${fields}`)).outputFields;

  test('integers around 2^53', () => {
    const f = fieldsOf('{"a":9007199254740991,"b":9007199254740992,"c":9007199254740993,"d":1234567890123456,"e":-9223372036854775808,"f":18446744073709551615}');
    assert.equal(f.a, 9007199254740991);
    assert.equal(f.b, 9007199254740992n);
    assert.equal(f.c, 9007199254740993n);
    assert.equal(f.d, 1234567890123456);
    assert.equal(f.e, -9223372036854775808n);
    assert.equal(f.f, 18446744073709551615n);
  });

  test('fractions and exponents stay doubles', () => {
    const f = fieldsOf('{"a":12345678901234567890.5,"b":1.12345678901234567890,"c":1e-12345678901234567890,"d":12345678901234567890e2,"e":0.5}');
    assert.equal(f.a, 12345678901234567890.5);
    assert.equal(f.b, 1.1234567890123457);
    assert.equal(f.c, 0);
    assert.equal(f.d, 1.2345678901234568e21);
    assert.equal(f.e, 0.5);
  });

  test('big integers inside arrays, with whitespace around them', () => {
    const f = fieldsOf('{ "a" : [ 1 , 18446744073709551615 ,\n-18446744073709551615 ] }');
    assert.deepEqual(f.a, [1, 18446744073709551615n, -18446744073709551615n]);
    assert.ok(Object.isFrozen(f.a));
  });

  test('digits inside strings are text, whatever the escapes around them', () => {
    const body =
      '{"rule":"12345678901234567890","output":"x \\"12345678901234567890\\" y","hostname":"a\\\\",' +
      '"output_fields":{"s":"18446744073709551615","t":"\\\\\\"18446744073709551615","n":18446744073709551615,"k12345678901234567890":1}}';
    const ev = ok(body);
    assert.equal(ev.rule, '12345678901234567890');
    assert.equal(ev.output, 'x "12345678901234567890" y');
    assert.equal(ev.hostname, 'a\\');
    assert.equal(ev.outputFields.s, '18446744073709551615');
    assert.equal(ev.outputFields.t, '\\"18446744073709551615');
    assert.equal(ev.outputFields.n, 18446744073709551615n);
    assert.equal(ev.outputFields.k12345678901234567890, 1);
  });

  test('an escaped quote followed by digits does not end a string', () => {
    const ev = ok('{"rule":"R","output":"a\\": 12345678901234567890 b\\\\","output_fields":{"n":18446744073709551615}}');
    assert.equal(ev.output, 'a": 12345678901234567890 b\\');
    assert.equal(ev.outputFields.n, 18446744073709551615n);
  });

  test('a body holding \\u0000 takes the fallback parser and stays exact', () => {
    const ev = ok('{"rule":"R","output":"nul\\u0000here","output_fields":{"n":18446744073709551615,"z":["\\u0000","5"],"u":"\\u00e9"}}');
    assert.equal(ev.output, 'nul\u0000here');
    assert.equal(ev.outputFields.n, 18446744073709551615n);
    assert.deepEqual(ev.outputFields.z, ['\u0000', '5']);
    assert.equal(ev.outputFields.u, 'é');
  });

  test('a marker-looking array written by the sender is not a number', () => {
    const ev = ok('{"rule":"R","output_fields":{"z":["\\u0000","18446744073709551615"],"n":1}}');
    assert.deepEqual(ev.outputFields.z, ['\u0000', '18446744073709551615']);
  });

  test('nulls, booleans and empty arrays', () => {
    assert.deepEqual({ ...fieldsOf('{"a":null,"b":true,"c":false,"d":[],"e":["x",null,1]}') }, {
      a: null,
      b: true,
      c: false,
      d: [],
      e: ['x', null, 1],
    });
  });

  test('a big integer in a key position is still invalid JSON', () => {
    assert.match(rejected('{"rule":"R","output_fields":{"a":1,12345678901234567890:2}}'), /not valid JSON/);
    assert.match(rejected('{"rule":"R","output_fields":{"a":01234567890123456789}}'), /not valid JSON/);
  });

  test('findLongIntegers finds only number tokens', () => {
    assert.equal(findLongIntegers('{"a":"12345678901234567890"}'), null);
    assert.equal(findLongIntegers('{"a":123456789012345}'), null);
    assert.deepEqual(findLongIntegers('{"a":-12345678901234567890}'), [5, 26]);
    assert.deepEqual(findLongIntegers('[1234567890123456]'), [1, 17]);
    assert.equal(findLongIntegers('[1.1234567890123456]'), null);
  });
});

describe('parseAlert: envelope', () => {
  test("Talon's curl examples: keys in any case", () => {
    const ev = ok('{"output":"Test","priority":"Critical","Rule":"Test Terminate","time":"2019-05-17T15:31:56.746609046Z", "output_fields": {"k8s.pod.name":"test", "k8s.ns.name":"default"}}');
    assert.equal(ev.rule, 'Test Terminate');
    assert.equal(ev.outputFields['k8s.pod.name'], 'test');
    const ev2 = ok('{"RULE":"x","PRIORITY":"critical","Output_Fields":{"a":1},"TAGS":["t"],"HostName":"h","SOURCE":"k8s_audit","Time":"2019-05-17T15:31:56Z","Output":"o","UUID":"u"}');
    assert.deepEqual(
      [ev2.rule, ev2.priority, ev2.outputFields.a, ev2.tags, ev2.hostname, ev2.source, ev2.time, ev2.output, ev2.uuid],
      ['x', 'Critical', 1, ['t'], 'h', 'k8s_audit', '2019-05-17T15:31:56Z', 'o', 'u'],
    );
  });

  test('the last key that matches case-insensitively wins, exact case or not, as in Go', () => {
    assert.equal(ok('{"Rule":"a","rule":"b"}').rule, 'b');
    assert.equal(ok('{"rule":"A","Rule":"B"}').rule, 'B');
    assert.equal(ok('{"RULE":"a","Rule":"c"}').rule, 'c');
    assert.equal(ok('{"rule":"r","priority":"Debug","PRIORITY":"Critical"}').priority, 'Critical');
  });

  test("Go's case folding: ſ folds onto s, ı and İ onto i", () => {
    assert.equal(ok('{"rule":"r","ſource":"k8s_audit"}').source, 'k8s_audit');
    assert.equal(ok('{"rule":"r","prıorİty":"Critical"}').priority, 'Critical');
  });

  test('unknown keys are ignored, null optional fields are absent', () => {
    const ev = ok('{"rule":"R","extra":{"deep":[1,{"x":2}]},"priority":null,"tags":null,"output_fields":null,"time":null,"hostname":null}');
    assert.equal(ev.priority, '');
    assert.equal(ev.priorityLevel, 0);
    assert.deepEqual(ev.tags, []);
    assert.deepEqual(ev.outputFields, {});
    assert.equal(ev.time, '');
    assert.equal(ev.hostname, '');
    assert.equal(ev.uuid, undefined);
    assert.ok(!('uuid' in ev));
  });

  test('priority is normalised to Falco casing', () => {
    assert.equal(ok('{"rule":"R","priority":"iNfOrMaTiOnAl"}').priority, 'Informational');
    assert.equal(ok('{"rule":"R","priority":"EMERGENCY"}').priorityLevel, 8);
  });

  test('buffers, invalid UTF-8 and keys like __proto__', () => {
    const bytes = Buffer.concat([Buffer.from('{"rule":"R","output":"'), Buffer.from([0xff, 0xfe]), Buffer.from('","output_fields":{"__proto__":"p"}}')]);
    const ev = ok(bytes);
    assert.equal(ev.output, '\ufffd\ufffd');
    assert.equal(Object.getOwnPropertyDescriptor(ev.outputFields, '__proto__')?.value, 'p');
    assert.equal(Object.getPrototypeOf(ev.outputFields), Object.prototype);
  });
});

describe('parseAlert: rejections', () => {
  const cases: [string, string | RegExp][] = [
    ['', 'body is empty: expected one Falco alert as a JSON object'],
    [' \n', 'body is empty: expected one Falco alert as a JSON object'],
    ['not json', /^body is not valid JSON: /],
    ['{"rule":"R"', /^body is not valid JSON: /],
    ['{"rule":"R"} x', /^body is not valid JSON: /],
    ['[]', 'body must be a JSON object (one Falco alert), got array'],
    ['null', 'body must be a JSON object (one Falco alert), got null'],
    ['"rule"', 'body must be a JSON object (one Falco alert), got string'],
    ['12345678901234567890', 'body must be a JSON object (one Falco alert), got number'],
    ['{}', 'missing required field "rule"'],
    ['{"rule":null}', 'missing required field "rule"'],
    ['{"rule":""}', 'field "rule" must not be empty'],
    ['{"rule":5}', 'field "rule" must be a string, got number'],
    ['{"rule":12345678901234567890}', 'field "rule" must be a string, got number'],
    ['{"rule":["a"]}', 'field "rule" must be a string, got array'],
    [alert(',"priority":"Info"').replace('"priority":"Warning",', ''), /^field "priority" must be one of Debug, Informational, .*Emergency; got "Info"$/],
    ['{"rule":"R","priority":3}', 'field "priority" must be a string, got number'],
    [alert(',"time":"yesterday"'), /^field "time" must be an RFC 3339 timestamp .*; got "yesterday"$/],
    [alert(',"time":"2023-02-29T00:00:00Z"'), /^field "time" must be an RFC 3339/],
    [alert(',"time":""'), /^field "time" must be an RFC 3339/],
    [alert(',"time":1685022245'), 'field "time" must be a string, got number'],
    [alert(',"hostname":5'), 'field "hostname" must be a string, got number'],
    [alert(',"source":true'), 'field "source" must be a string, got boolean'],
    [alert(',"output":{}'), 'field "output" must be a string, got object'],
    [alert(',"uuid":1'), 'field "uuid" must be a string, got number'],
    [alert(',"tags":"container"'), 'field "tags" must be an array of strings, got string'],
    [alert(',"tags":["a",1]'), 'field "tags"[1] must be a string, got number'],
    [alert(',"output_fields":[]'), 'field "output_fields" must be an object, got array'],
    [alert(',"output_fields":"x"'), 'field "output_fields" must be an object, got string'],
    [alert(',"output_fields":{"k8s":{"pod":"x"}}'), 'output_fields["k8s"]: nested objects are not allowed (output_fields are flat)'],
    [alert(',"output_fields":{"a":[1,{"b":2}]}'), 'output_fields["a"][1]: nested objects are not allowed (output_fields are flat)'],
    [alert(',"output_fields":{"a":1e400}'), 'output_fields["a"]: number out of range'],
    [alert(`,"output_fields":{"a":${'['.repeat(20)}${']'.repeat(20)}}`), /^output_fields\["a"\](\[0\])+: arrays nested deeper than 16$/],
  ];
  for (const [body, expected] of cases) {
    test(`${body.slice(0, 60) || '(empty)'}`, () => {
      const message = rejected(body);
      if (typeof expected === 'string') assert.equal(message, expected);
      else assert.match(message, expected);
    });
  }

  test('rejections from the fallback parser', () => {
    for (const body of ['{"a":"\\u0000",', '{"a":"\\u0000"} x', '{"a":"\\u0000" "b":1}', '{"a":"\\u0000","b":[1 2]}', '{"a":"\\u0000\t","b":12345678901234567890}']) {
      assert.match(rejected(`${body}`.replace(/^\{/, '{"rule":"R","n":12345678901234567890,')), /^body is not valid JSON: /, body);
    }
  });
});

describe('RFC 3339', () => {
  test('valid and invalid stamps', () => {
    for (const s of ['2023-05-25T13:44:05.478445995Z', '2024-02-29T23:59:60Z', '2019-05-17t15:31:56+02:00', '2019-05-17T15:31:56-00:30']) {
      assert.ok(isRfc3339(s), s);
    }
    for (const s of ['2023-05-25 13:44:05Z', '2023-13-01T00:00:00Z', '2023-04-31T00:00:00Z', '2100-02-29T00:00:00Z', '2023-05-25T24:00:00Z', '2023-05-25T13:44:05', '2023-05-25T13:44:05+0200']) {
      assert.ok(!isRfc3339(s), s);
    }
  });
});

describe('parseLossless', () => {
  const normalise = (v: unknown): unknown =>
    typeof v === 'bigint'
      ? Number(v)
      : Array.isArray(v)
        ? v.map(normalise)
        : v !== null && typeof v === 'object'
          ? Object.fromEntries(Object.entries(v).map(([k, x]) => [k, normalise(x)]))
          : v;

  test('agrees with JSON.parse on any JSON text (big integers compared as doubles)', () => {
    fc.assert(
      fc.property(fc.jsonValue(), fc.boolean(), (value, pretty) => {
        const text = JSON.stringify(value, null, pretty ? 2 : undefined);
        assert.deepEqual(normalise(parseLossless(text)), JSON.parse(text));
      }),
      { numRuns: 300 },
    );
  });

  test('rejects what JSON.parse rejects', () => {
    fc.assert(
      fc.property(fc.jsonValue(), fc.nat(), fc.string({ maxLength: 3 }), (value, at, junk) => {
        const text = JSON.stringify(value) ?? 'null';
        const cut = at % (text.length + 1);
        const broken = text.slice(0, cut) + junk + text.slice(cut);
        let expected = true;
        try {
          JSON.parse(broken);
        } catch {
          expected = false;
        }
        let actual = true;
        try {
          parseLossless(broken);
        } catch {
          actual = false;
        }
        assert.equal(actual, expected, broken);
      }),
      { numRuns: 500 },
    );
  });

  test('big integers exact; __proto__ is an own key', () => {
    const v = parseLossless('{"__proto__":{"x":1},"n":[-18446744073709551615, 9007199254740991]}') as Record<string, unknown>;
    assert.deepEqual(Object.getOwnPropertyDescriptor(v, '__proto__')?.value, { x: 1 });
    assert.deepEqual(v.n, [-18446744073709551615n, 9007199254740991]);
  });
});
