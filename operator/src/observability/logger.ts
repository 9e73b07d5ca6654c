/**
 * Logger factory. Messages are constant sentences; data goes in fields (`rule`, `action`,
 * `actionner`, `target`, `trace_id`, …) so log pipelines can index them.
 */
import winston from 'winston';
import type { Writable } from 'node:stream';

export type Logger = winston.Logger;
import type { LogFormat, LogLevel, LogPort } from '../lib/log.js';

export type { LogFormat, LogLevel, LogPort };

export interface LoggerOptions {
  readonly level: LogLevel;
  readonly format: LogFormat;
  /** Where lines go; stdout when absent. */
  readonly stream?: Writable;
  /** Drop every line (tests). */
  readonly silent?: boolean;
}

function bigintSafe(_key: string, value: unknown): unknown {
  return typeof value === 'bigint' ? value.toString() : value;
}

const textLine = winston.format.printf((info) => {
  const { timestamp, level, message, ...fields } = info;
  const data = Object.keys(fields).length === 0 ? '' : ` ${JSON.stringify(fields, bigintSafe)}`;
  return `${String(timestamp)} ${level.toUpperCase()} ${String(message)}${data}`;
});

/** A new logger writing one line per entry: JSON objects (`format: 'json'`) or `time LEVEL message {fields}`. */
export function createLogger(options: LoggerOptions): Logger {
  const format =
    options.format === 'json'
      ? winston.format.combine(winston.format.timestamp(), winston.format.json())
      : winston.format.combine(winston.format.timestamp(), textLine);
  const transport = options.stream
    ? new winston.transports.Stream({ stream: options.stream })
    : new winston.transports.Console();
  return winston.createLogger({
    level: options.level,
    format,
    transports: [transport],
    silent: options.silent ?? false,
    exitOnError: false,
  });
}


const noop = (): undefined => undefined;

/**
 * A LogPort over `logger` whose levels below the logger's level are no-ops, decided once:
 * hot paths (a debug line per merged match during an alert storm) then cost a call, not
 * winston's formatting pipeline. Changing the logger's level later is not reflected.
 */
export function logPort(logger: Logger): LogPort {
  const on = (level: LogLevel) => logger.isLevelEnabled(level);
  return {
    debug: on('debug') ? (m, f) => logger.debug(m, f) : noop,
    info: on('info') ? (m, f) => logger.info(m, f) : noop,
    warn: on('warn') ? (m, f) => logger.warn(m, f) : noop,
    error: (m, f) => logger.error(m, f),
  };
}
