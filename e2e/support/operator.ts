/**
 * Runs the real operator (`node dist/operator/src/cli.js run`) as a child process against
 * the e2e cluster, with a generated config file, and talks to its webhook over HTTP.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as k8s from '@kubernetes/client-node';
import { NODE_FLAGS, NODE_PROCESS_ENV } from '../../operator/src/lib/node-flags.js';
import { chartCredentials } from './chart.js';
import { e2eKubeconfigPath, eventually, kubectlPath, loadE2EKubeConfig } from './cluster.js';

/** Repository root (this file runs from dist/e2e/support/). */
export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

export async function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const addr = s.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      s.close(() => res(port));
    });
    s.on('error', rej);
  });
}

/**
 * Server-side applies the generated CRDs with kubectl and waits until they are Established
 * and served. (Not through client-node's typed CRD API: its serializer expects camelCase model
 * names and silently drops `x-kubernetes-preserve-unknown-fields` and `x-kubernetes-validations`.)
 */
export async function installCRDs(kc: k8s.KubeConfig): Promise<void> {
  execFileSync(kubectlPath(), ['--kubeconfig', e2eKubeconfigPath(), 'apply', '--server-side', '--force-conflicts', '-k', join(repoRoot, 'crds')], {
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const apiext = kc.makeApiClient(k8s.ApiextensionsV1Api);
  for (const plural of TALON_PLURALS) {
    const name = `${plural}.talon.dev`;
    await eventually(`CRD ${name} Established`, async () => {
      const c = await apiext.readCustomResourceDefinition({ name });
      return c.status?.conditions?.some((x) => x.type === 'Established' && x.status === 'True');
    });
  }
  const custom = kc.makeApiClient(k8s.CustomObjectsApi);
  await eventually('talon.dev/v1alpha1 served', async () => {
    for (const plural of TALON_PLURALS) await custom.listClusterCustomObject({ group: 'talon.dev', version: 'v1alpha1', plural });
    return true;
  });
}

const TALON_PLURALS = ['talonrules', 'talonactions', 'clustertalonrules', 'clustertalonactions', 'talonapprovals'] as const;

/**
 * Applies config/rbac/aggregate-edit.yaml and aggregate-view.yaml (talon-rule-editor,
 * talon-rule-viewer) and waits until the controller manager's aggregation controller has
 * folded their rules into the built-in `edit` and `view` ClusterRoles.
 */
export async function installAggregatedRoles(kc: k8s.KubeConfig): Promise<void> {
  const rbacDir = join(repoRoot, 'config', 'rbac');
  execFileSync(
    kubectlPath(),
    ['--kubeconfig', e2eKubeconfigPath(), 'apply', '--server-side', '--force-conflicts', '-f', join(rbacDir, 'aggregate-edit.yaml'), '-f', join(rbacDir, 'aggregate-view.yaml')],
    { stdio: ['ignore', 'ignore', 'inherit'] },
  );
  const rbac = kc.makeApiClient(k8s.RbacAuthorizationV1Api);
  const grants = (role: k8s.V1ClusterRole, resource: string, verb: string) =>
    (role.rules ?? []).some((r) => (r.apiGroups ?? []).includes('talon.dev') && (r.resources ?? []).includes(resource) && r.verbs.includes(verb));
  await eventually(
    'the built-in edit and view ClusterRoles aggregate the talon.dev rules',
    async () => grants(await rbac.readClusterRole({ name: 'edit' }), 'talonrules', 'create') && grants(await rbac.readClusterRole({ name: 'view' }), 'talonrules', 'list'),
    60_000,
    200,
  );
}

export async function ensureNamespace(core: k8s.CoreV1Api, name: string): Promise<void> {
  try {
    await core.createNamespace({ body: { metadata: { name } } });
  } catch (err) {
    if ((err as { code?: number }).code !== 409) throw err;
  }
}

/**
 * `TALON_E2E_LEAST_PRIVILEGE=1` (the least-privilege tier of scripts/e2e.sh): every operator
 * process of the test file runs with the credentials of the Helm chart's ServiceAccount — the
 * chart rendered with its default values, its ServiceAccount, ClusterRole and binding applied
 * as rendered, a token minted through the TokenRequest API — instead of the admin's. Created
 * once per test process.
 */
export const LEAST_PRIVILEGE = process.env.TALON_E2E_LEAST_PRIVILEGE === '1';
let chartKubeconfig: Promise<string> | undefined;

/** The kubeconfig operator processes use by default: the admin's, or the chart's ServiceAccount in the least-privilege tier. */
export function operatorKubeconfig(): Promise<string> {
  if (!LEAST_PRIVILEGE) return Promise.resolve(e2eKubeconfigPath());
  chartKubeconfig ??= chartCredentials(loadE2EKubeConfig()).then((c) => c.kubeconfig);
  return chartKubeconfig;
}

export interface OperatorOptions {
  /** Extra config (merged at the top level of the YAML config). */
  readonly config?: Record<string, unknown>;
  readonly env?: Record<string, string>;
  /** The operator's kubeconfig (default: operatorKubeconfig()). */
  readonly kubeconfig?: string;
  /** Wait for /readyz 200 before returning (default true); otherwise wait for /healthz only. */
  readonly waitReady?: boolean;
  /** Called with every log line, from every run of the process (restarts included). */
  readonly onLog?: (line: string) => void;
  /**
   * Node options before the script, after the image's V8 flags (lib/node-flags.ts: every operator
   * process runs what ships; a later flag overrides them). Default ['--enable-source-maps'];
   * benches pass what production runs, e.g. [] or ['--cpu-prof', …].
   */
  readonly nodeArgs?: readonly string[];
}

/** How a signalled operator ended. */
export interface ExitInfo {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  /** From the signal to the exit, ms. */
  readonly ms: number;
}

export class OperatorProcess {
  private proc: ChildProcess | undefined;
  readonly logs: string[] = [];
  readonly url: string;

  private constructor(
    readonly port: number,
    private readonly configFile: string,
    private readonly env: Record<string, string>,
    private readonly kubeconfig: string,
    private readonly onLog?: (line: string) => void,
    private readonly nodeArgs: readonly string[] = ['--enable-source-maps'],
  ) {
    this.url = `http://127.0.0.1:${port}`;
  }

  static async start(opts: OperatorOptions = {}): Promise<OperatorProcess> {
    const port = await freePort();
    const dir = mkdtempSync(join(tmpdir(), 'talon-e2e-'));
    const config = {
      listen: { address: '127.0.0.1', port },
      auth: { mode: 'none' },
      logLevel: 'info',
      ...opts.config,
      // Each process its own journal directory (kept across restart()).
      journal: { dir: join(dir, 'journal'), ...(opts.config?.journal as Record<string, unknown> | undefined) },
    };
    const configFile = join(dir, 'talon.yaml');
    writeFileSync(configFile, JSON.stringify(config, null, 2));
    const op = new OperatorProcess(port, configFile, opts.env ?? {}, opts.kubeconfig ?? (await operatorKubeconfig()), opts.onLog, opts.nodeArgs);
    await op.spawn(opts.waitReady ?? true);
    return op;
  }

  private async spawn(waitReady: boolean): Promise<void> {
    const cli = join(repoRoot, 'dist', 'operator', 'src', 'cli.js');
    const proc = spawn(process.execPath, [...NODE_FLAGS, ...this.nodeArgs, cli, 'run', '--config', this.configFile, '--kubeconfig', this.kubeconfig], {
      env: { ...process.env, ...NODE_PROCESS_ENV, KUBECONFIG: '', ...this.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.proc = proc;
    const keep = (d: Buffer) => {
      for (const line of d.toString().split('\n')) {
        if (!line) continue;
        this.logs.push(line);
        this.onLog?.(line);
      }
      if (this.logs.length > 5000) this.logs.splice(0, this.logs.length - 5000);
    };
    proc.stdout?.on('data', keep);
    proc.stderr?.on('data', keep);
    if (waitReady) await this.waitReady();
    else await this.waitPath('/healthz', 30_000);
  }

  async waitReady(timeoutMs = 60_000): Promise<void> {
    await this.waitPath('/readyz', timeoutMs);
  }

  private async waitPath(path: string, timeoutMs: number): Promise<void> {
    await eventually(
      `operator ${path} 200 on ${this.url}`,
      async () => {
        if (this.proc?.exitCode !== null && this.proc?.exitCode !== undefined) {
          throw new Error(`operator exited with ${this.proc.exitCode}:\n${this.logs.slice(-40).join('\n')}`);
        }
        const r = await fetch(`${this.url}${path}`);
        return r.status === 200;
      },
      timeoutMs,
      200,
    );
  }

  async readyz(): Promise<{ status: number; body: string }> {
    const r = await fetch(`${this.url}/readyz`);
    return { status: r.status, body: await r.text() };
  }

  async post(alert: unknown, headers: Record<string, string> = {}): Promise<{ status: number; body: string }> {
    const r = await fetch(`${this.url}/`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body: typeof alert === 'string' ? alert : JSON.stringify(alert),
    });
    return { status: r.status, body: await r.text() };
  }

  /** The running process's pid (undefined before the first start). */
  get pid(): number | undefined {
    return this.proc?.pid;
  }

  async metrics(): Promise<string> {
    const r = await fetch(`${this.url}/metrics`);
    return r.text();
  }

  /** Value of one Prometheus sample line (`name{labels}`), 0 when absent. */
  async metric(sample: string): Promise<number> {
    const text = await this.metrics();
    for (const line of text.split('\n')) {
      if (line.startsWith(sample + ' ')) return Number(line.slice(sample.length + 1));
    }
    return 0;
  }

  /** kill -9: nothing is flushed, nothing is closed. */
  async kill9(): Promise<void> {
    const p = this.proc;
    if (!p || p.exitCode !== null || p.signalCode !== null) return;
    const exited = new Promise<void>((r) => p.once('exit', () => r()));
    p.kill('SIGKILL');
    await exited;
  }

  /** Sends SIGTERM and waits (up to `timeoutMs`) for the exit; says how and when it ended. */
  async terminate(timeoutMs = 60_000): Promise<ExitInfo> {
    const p = this.proc;
    if (!p || p.exitCode !== null || p.signalCode !== null) throw new Error('the operator is not running');
    const t0 = Date.now();
    const exited = new Promise<ExitInfo>((r) => p.once('exit', (code, signal) => r({ code, signal, ms: Date.now() - t0 })));
    p.kill('SIGTERM');
    const timer = setTimeout(() => p.kill('SIGKILL'), timeoutMs);
    try {
      return await exited;
    } finally {
      clearTimeout(timer);
    }
  }

  /** Starts the process again with the same config file, port and journal directory. */
  async restart(waitReady = true): Promise<void> {
    if (this.proc && this.proc.exitCode === null && this.proc.signalCode === null) throw new Error('the operator is still running');
    await this.spawn(waitReady);
  }

  async stop(): Promise<void> {
    const p = this.proc;
    if (!p || p.exitCode !== null) return;
    p.kill('SIGTERM');
    await new Promise<void>((r) => {
      const t = setTimeout(() => {
        p.kill('SIGKILL');
        r();
      }, 10_000);
      p.once('exit', () => {
        clearTimeout(t);
        r();
      });
    });
  }
}

/** Reads a Falco sample alert shipped with the tests. */
export function sampleAlert(name: string): Record<string, unknown> {
  return JSON.parse(readFileSync(join(repoRoot, 'operator', 'test', 'fixtures', 'events', name), 'utf8')) as Record<string, unknown>;
}
