/**
 * A state-based fake of the pod streams port (kube/pod-streams.ts) for unit tests.
 *
 * Containers are programs keyed by `namespace/pod/container`. An exec reads the argv the way
 * `env` does (`env [--] NAME=value … command…`) and hands the program the command and the
 * environment it would run with; what the program prints goes to the session's streams with
 * their back-pressure, and its exit code comes back as the status. `hostProgram()` instead
 * runs the argv for real on this machine, without a shell and with an empty environment but
 * PATH, as kwok does in the e2e plane. A program may hang until the session is aborted.
 * Every exec is kept in `runs` (what ran where, with which environment) — the containers'
 * state. Logs are texts per container (`previous` separately); a request applies tailLines
 * and limitBytes as the API server does; a missing container log is a 404, a missing
 * previous log a 400.
 */
import { spawn } from 'node:child_process';
import { Readable } from 'node:stream';
import type { Writable } from 'node:stream';
import type { PodExecRequest, PodExecStatus, PodLogRequest, PodStreams } from '../../src/kube/pod-streams.js';
import { apiError } from './kube.js';

export interface ProgramInput {
  /** The whole argv of the exec. */
  readonly argv: readonly string[];
  /** The command after `env`'s assignments (the whole argv when it does not start with `env`). */
  readonly command: readonly string[];
  /** The variables `env` would set. */
  readonly env: Readonly<Record<string, string>>;
  readonly signal: AbortSignal;
}

export interface ProgramOutput {
  readonly stdout?: string | Buffer | readonly Buffer[];
  readonly stderr?: string | Buffer;
  readonly exitCode?: number;
  /** Do not end: wait for the session to be aborted. */
  readonly hang?: boolean;
  /** Not run at all (e.g. executable not found): a Failure status without an exit code. */
  readonly notRun?: string;
}

export type Program = (input: ProgramInput) => ProgramOutput | Promise<ProgramOutput>;

export interface ExecRun {
  readonly namespace: string;
  readonly pod: string;
  readonly container: string;
  readonly argv: readonly string[];
  readonly command: readonly string[];
  readonly env: Readonly<Record<string, string>>;
}

/** `env [--] NAME=value … command…` → the variables and the command, as env(1) reads them. */
export function parseEnvArgv(argv: readonly string[]): { env: Record<string, string>; command: string[] } {
  if (argv[0] !== 'env') return { env: {}, command: [...argv] };
  let i = 1;
  if (argv[i] === '--') i++;
  const env: Record<string, string> = {};
  for (; i < argv.length; i++) {
    const a = argv[i] as string;
    const eq = a.indexOf('=');
    if (eq <= 0) break;
    env[a.slice(0, eq)] = a.slice(eq + 1);
  }
  return { env, command: argv.slice(i) };
}

async function writeAll(w: Writable, chunks: readonly Buffer[], signal: AbortSignal): Promise<void> {
  for (const c of chunks) {
    if (signal.aborted) return;
    if (!w.write(c)) {
      await new Promise<void>((resolve) => {
        const done = (): void => {
          w.off('drain', done);
          w.off('close', done);
          signal.removeEventListener('abort', done);
          resolve();
        };
        w.on('drain', done);
        w.on('close', done);
        signal.addEventListener('abort', done);
      });
    }
  }
}

const asChunks = (v: string | Buffer | readonly Buffer[] | undefined): Buffer[] =>
  v === undefined ? [] : typeof v === 'string' ? [Buffer.from(v)] : Buffer.isBuffer(v) ? [v] : [...v];

export class FakePodStreams implements PodStreams {
  private readonly programs = new Map<string, Program>();
  private readonly logs = new Map<string, string>();
  private readonly connectFailures: unknown[] = [];
  readonly runs: ExecRun[] = [];
  readonly logRequests: PodLogRequest[] = [];

  static key(namespace: string, pod: string, container: string): string {
    return `${namespace}/${pod}/${container}`;
  }

  /** The program container `container` of pod `namespace/pod` runs for every exec. */
  setProgram(namespace: string, pod: string, container: string, program: Program): void {
    this.programs.set(FakePodStreams.key(namespace, pod, container), program);
  }

  /** The next exec fails to open its session with `err` (nothing runs). */
  failNextExec(err: unknown): void {
    this.connectFailures.push(err);
  }

  setLog(namespace: string, pod: string, container: string, text: string, previous = false): void {
    this.logs.set(`${FakePodStreams.key(namespace, pod, container)}${previous ? '#previous' : ''}`, text);
  }

  async exec(req: PodExecRequest): Promise<PodExecStatus> {
    await Promise.resolve();
    req.signal.throwIfAborted();
    const failure = this.connectFailures.shift();
    if (failure !== undefined) throw failure;
    const program = this.programs.get(FakePodStreams.key(req.namespace, req.pod, req.container));
    if (program === undefined) throw apiError(404, `container ${req.container} not found in pod ${req.pod}`);
    const { env, command } = parseEnvArgv(req.command);
    this.runs.push({ namespace: req.namespace, pod: req.pod, container: req.container, argv: [...req.command], command, env });
    const out = await program({ argv: [...req.command], command, env, signal: req.signal });
    try {
      if (out.notRun !== undefined) return { success: false, message: out.notRun };
      await writeAll(req.stdout, asChunks(out.stdout), req.signal);
      await writeAll(req.stderr, asChunks(out.stderr), req.signal);
      if (out.hang === true && !req.signal.aborted) await new Promise((resolve) => req.signal.addEventListener('abort', resolve, { once: true }));
      req.signal.throwIfAborted();
      const code = out.exitCode ?? 0;
      return code === 0 ? { success: true, exitCode: 0, message: '' } : { success: false, exitCode: code, message: `command terminated with non-zero exit code: exit status ${code}` };
    } finally {
      if (!req.stdout.writableEnded) req.stdout.end();
      if (!req.stderr.writableEnded) req.stderr.end();
    }
  }

  async log(req: PodLogRequest): Promise<Readable> {
    await Promise.resolve();
    req.signal.throwIfAborted();
    this.logRequests.push(req);
    const key = `${FakePodStreams.key(req.namespace, req.pod, req.container)}${req.previous === true ? '#previous' : ''}`;
    const text = this.logs.get(key);
    if (text === undefined) {
      if (req.previous === true) throw apiError(400, `previous terminated container "${req.container}" in pod "${req.pod}" not found`);
      throw apiError(404, `container ${req.container} of pod ${req.pod} has no log`);
    }
    let lines = text.split(/(?<=\n)/);
    if (req.tailLines !== undefined) lines = lines.slice(-req.tailLines);
    let data = Buffer.from(lines.join(''));
    if (req.limitBytes !== undefined) data = data.subarray(0, req.limitBytes);
    // Several chunks, as a real response body.
    const chunks: Buffer[] = [];
    for (let i = 0; i < data.length; i += 1000) chunks.push(data.subarray(i, i + 1000));
    return Readable.from(chunks);
  }
}

/**
 * A program that runs the exec's whole argv for real on this machine (so `env` is the real
 * env(1)): no shell (spawn with an argv), an environment of PATH only — nothing of this
 * process's environment. `cwd` is where it runs.
 */
export function hostProgram(cwd: string): Program {
  return ({ argv, signal }) =>
    new Promise<ProgramOutput>((resolve) => {
      const [file, ...args] = argv;
      const child = spawn(file as string, args, { cwd, env: { PATH: process.env.PATH ?? '/usr/bin:/bin' }, shell: false, signal, stdio: ['ignore', 'pipe', 'pipe'] });
      const out: Buffer[] = [];
      const err: Buffer[] = [];
      child.stdout.on('data', (c: Buffer) => out.push(c));
      child.stderr.on('data', (c: Buffer) => err.push(c));
      child.on('error', (e) => resolve({ notRun: e.message }));
      child.on('close', (code) => resolve({ stdout: Buffer.concat(out), stderr: Buffer.concat(err), exitCode: code ?? 1 }));
    });
}
