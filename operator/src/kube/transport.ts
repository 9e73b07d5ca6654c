/**
 * The HTTP transport for Kubernetes API calls.
 *
 * client-node 1.4 sends every request through node-fetch with a new https.Agent, so each
 * API call pays a TCP + TLS handshake with the client certificate (9 ms vs 2.9 ms per call
 * measured on the e2e plane; at 100 alerts/s the handshakes were most of the operator's CPU).
 * A keep-alive agent cannot simply be handed to node-fetch: node-fetch 2.7 fails reused
 * sockets with "Premature close" on Node 20. So API clients made by KeepAliveKubeConfig
 * send through NodeHttpLibrary (node:http/https directly) with one pooled keep-alive agent,
 * replaced whenever the TLS material changes (certificate rotation); proxy agents
 * (`proxy-url`) and plain-http servers are left to client-node, per request.
 *
 * Auth material (the TLS material and the headers: bearer token, exec credential, basic
 * auth, impersonation) is computed by client-node's own code, but at most once per
 * AUTH_REFRESH_MS rather than once per request: client-node re-reads the CA/cert/key files
 * and builds a new https.Agent for every call, and hashing that material to find the pool
 * was 2.3 % of the operator's busy time at 100 label actions/s. Everything that can change
 * is re-read within AUTH_REFRESH_MS: a rotated certificate or key file (the pool is swapped),
 * a projected token file (client-node's FileAuth re-reads it every 60 s anyway), an exec
 * credential past its expiry (client-node's ExecAuth runs the plugin again). A raw request
 * answered 401 forces a refresh and is sent once more (kube/raw.ts).
 */
import http from 'node:http';
import https from 'node:https';
import {
  HttpMethod,
  KubeConfig,
  RequestContext,
  ResponseContext,
  ServerConfiguration,
  createConfiguration,
  type HttpLibrary,
} from '@kubernetes/client-node';
import { Observable } from '@kubernetes/client-node';
import { AgentPool, CachedMaterial, type AuthMaterial } from './pool.js';
import type { AuthSource } from './raw.js';

export { AUTH_REFRESH_MS, type AuthMaterial } from './pool.js';

/** Sends client-node requests with node:http/https, honouring the request's agent and AbortSignal. */
export class NodeHttpLibrary implements HttpLibrary {
  send(request: RequestContext): Observable<ResponseContext> {
    return new Observable(this.sendAsync(request));
  }

  private sendAsync(request: RequestContext): Promise<ResponseContext> {
    return new Promise((resolve, reject) => {
      const url = new URL(request.getUrl());
      const body = request.getBody();
      if (body !== undefined && typeof body !== 'string') {
        reject(new Error('NodeHttpLibrary: only string request bodies are supported'));
        return;
      }
      const signal = request.getSignal();
      const agent = request.getAgent();
      const options: https.RequestOptions = {
        method: request.getHttpMethod().toString(),
        headers: { ...request.getHeaders(), ...(body !== undefined ? { 'content-length': String(Buffer.byteLength(body)) } : {}) },
        ...(agent ? { agent } : {}),
        ...(signal ? { signal } : {}),
      };
      const send = url.protocol === 'https:' ? https.request : http.request;
      const req = send(url, options, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', reject);
        res.on('end', () => {
          const data = Buffer.concat(chunks);
          const headers: Record<string, string> = {};
          for (const [k, v] of Object.entries(res.headers)) if (v !== undefined) headers[k] = Array.isArray(v) ? v.join(', ') : v;
          resolve(
            new ResponseContext(res.statusCode ?? 0, headers, {
              text: async () => data.toString('utf8'),
              binary: async () => data,
            }),
          );
        });
      });
      req.on('error', reject);
      req.end(body);
    });
  }
}

/** A KubeConfig whose API clients reuse one keep-alive connection pool (see the module doc). */
export class KeepAliveKubeConfig extends KubeConfig {
  private readonly pool = new AgentPool();
  private readonly material = new CachedMaterial(() => this.computeMaterial(), () => this.now());
  private readonly httpApi = new NodeHttpLibrary();
  /** Clock for the refresh period (tests replace it). */
  now: () => number = Date.now;

  override async applySecurityAuthentication(context: RequestContext): Promise<void> {
    if (!this.pools()) return super.applySecurityAuthentication(context);
    const m = await this.authMaterial();
    for (const name in m.headers) context.setHeaderParam(name, m.headers[name] as string);
    if (m.agent) context.setAgent(m.agent);
  }

  /**
   * The auth headers and agent for a request: the pooled material while younger than
   * AUTH_REFRESH_MS (or computed again when `refresh`), or — behind a proxy or for a
   * plain-http server — client-node's own per-request result.
   */
  async authMaterial(refresh = false): Promise<AuthMaterial> {
    if (!this.pools()) {
      const ctx = new RequestContext(this.getCurrentCluster()?.server ?? '', HttpMethod.GET);
      await super.applySecurityAuthentication(ctx);
      return { headers: ctx.getHeaders(), agent: ctx.getAgent() as http.Agent | undefined };
    }
    return this.material.get(refresh);
  }

  /** Whether requests go through the pool: an https server without a proxy. */
  private pools(): boolean {
    const cluster = this.getCurrentCluster();
    return cluster !== null && !cluster.proxyUrl && !cluster.server.startsWith('http:');
  }

  /** Runs client-node's auth code once and swaps the pool if the TLS material changed. */
  private async computeMaterial(): Promise<AuthMaterial> {
    const ctx = new RequestContext(this.getCurrentCluster()?.server ?? '', HttpMethod.GET);
    // Per request client-node would make an https.Agent here; we only read its options.
    await super.applySecurityAuthentication(ctx);
    const fresh = ctx.getAgent();
    const o: https.AgentOptions = fresh instanceof https.Agent ? fresh.options : {};
    return { headers: { ...ctx.getHeaders() }, agent: this.pool.agentFor(o) };
  }

  override makeApiClient<T>(apiClientType: new (config: ReturnType<typeof createConfiguration>) => T): T {
    const cluster = this.getCurrentCluster();
    if (!cluster) throw new Error('No active cluster!');
    return new apiClientType(
      createConfiguration({
        baseServer: new ServerConfiguration(cluster.server, {}),
        authMethods: { default: this },
        httpApi: this.httpApi,
      }),
    );
  }

  /** Closes pooled connections (shutdown). */
  destroyAgent(): void {
    this.pool.destroy();
    this.material.forget();
  }
}

/** The auth source of a KubeConfig: its pooled material when it has one, else client-node's per-request result. */
export function authSourceOf(kc: KubeConfig): AuthSource {
  const server = kc.getCurrentCluster()?.server;
  if (server === undefined) throw new Error('kubeconfig has no current cluster');
  if (kc instanceof KeepAliveKubeConfig) return { server, authMaterial: (refresh) => kc.authMaterial(refresh) };
  return {
    server,
    authMaterial: async () => {
      const ctx = new RequestContext(server, HttpMethod.GET);
      await kc.applySecurityAuthentication(ctx);
      return { headers: ctx.getHeaders(), agent: ctx.getAgent() as http.Agent | undefined };
    },
  };
}
