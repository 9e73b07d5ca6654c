/**
 * A secret (a webhook URL, a password, an API key) read from a file, so a Kubernetes Secret
 * can be mounted. The value is reachable only through `reveal()`: string conversion, JSON,
 * `util.inspect` (winston's and console's formatting) all give `<secret from PATH>`, so a
 * config object or an error that carries a Secret never prints it.
 */
import { readFileSync } from 'node:fs';
import { inspect } from 'node:util';

export class Secret {
  readonly #value: string;
  /** Where it came from, for messages: the file path. */
  readonly source: string;

  private constructor(value: string, source: string) {
    this.#value = value;
    this.source = source;
  }

  /** Reads `path`; one trailing newline (as `kubectl create secret --from-file` keeps) is removed. Throws with the path, never the content. */
  static fromFile(path: string): Secret {
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch (err) {
      throw new Error(`cannot read secret file ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
    const value = text.replace(/\r?\n$/, '');
    if (value === '') throw new Error(`secret file ${path} is empty`);
    return new Secret(value, path);
  }

  /** For tests and literal values given in code (never from config text). */
  static of(value: string, source = 'literal'): Secret {
    return new Secret(value, source);
  }

  reveal(): string {
    return this.#value;
  }

  toString(): string {
    return `<secret from ${this.source}>`;
  }

  toJSON(): string {
    return this.toString();
  }

  [inspect.custom](): string {
    return this.toString();
  }
}
