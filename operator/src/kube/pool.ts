/**
 * The keep-alive connection pool and cached auth material every API request goes through,
 * without @kubernetes/client-node (see kube/client-node-lite.ts for why that matters).
 *
 * Auth material (the TLS material and the headers) is computed at most once per
 * AUTH_REFRESH_MS, not per request: re-reading the CA/cert/key files and building a new
 * https.Agent for every call was 2.3 % of the operator's busy time at 100 label actions/s.
 * Everything that can change is re-read within AUTH_REFRESH_MS: a rotated certificate or key
 * file (the pool is swapped), a projected token file. One keep-alive https.Agent per TLS
 * material: a TCP + TLS handshake with the client certificate per call cost 9 ms vs 2.9 ms.
 */
import { createHash } from 'node:crypto';
import type http from 'node:http';
import https from 'node:https';
import tls from 'node:tls';

/** How long computed auth material is reused before it is computed again. */
export const AUTH_REFRESH_MS = 1000;

/** What a request to the API server needs: its headers (auth) and the agent to send it through. */
export interface AuthMaterial {
  readonly headers: Readonly<Record<string, string>>;
  readonly agent: http.Agent | undefined;
}

/** One keep-alive https.Agent, replaced when the TLS material it was made with changes. */
export class AgentPool {
  private agent: https.Agent | undefined;
  private key: string | undefined;

  /** The pooled agent for these TLS options (a new pool when they differ from the last call's). */
  agentFor(o: https.AgentOptions): https.Agent {
    const key = createHash('sha256')
      .update(String(o.ca ?? ''))
      .update('\0')
      .update(String(o.cert ?? ''))
      .update('\0')
      .update(String(o.key ?? ''))
      .update(`\0${String(o.rejectUnauthorized)}\0${o.servername ?? ''}\0${String(o.pfx ?? '')}\0${String(o.passphrase ?? '')}`)
      .digest('hex');
    if (this.agent === undefined || this.key !== key) {
      this.agent?.destroy();
      // One SecureContext for the pool's life: given only the PEM texts, every new connection
      // would build its own (parse the key, the certificate and every CA again: the whole
      // createSecureContext was 31 % of a start-up profile, and a burst that opens sockets pays
      // it once per socket just when the machine is busiest).
      const { ca, cert, key: privateKey, pfx, passphrase, ...rest } = o;
      const secureContext = tls.createSecureContext({ ca, cert, key: privateKey, pfx, passphrase });
      this.agent = new https.Agent({ ...rest, secureContext, keepAlive: true, maxSockets: 64 });
      this.key = key;
    }
    return this.agent;
  }

  /** Closes pooled connections (shutdown). */
  destroy(): void {
    this.agent?.destroy();
    this.agent = undefined;
    this.key = undefined;
  }
}

/** Material computed at most once per AUTH_REFRESH_MS; concurrent callers share one computation. */
export class CachedMaterial {
  private value: { readonly material: AuthMaterial; readonly at: number } | undefined;
  private computing: Promise<AuthMaterial> | undefined;

  constructor(
    private readonly compute: () => Promise<AuthMaterial>,
    /** Clock for the refresh period (tests replace it). */
    public now: () => number = Date.now,
  ) {}

  get(refresh = false): Promise<AuthMaterial> {
    const v = this.value;
    if (!refresh && v !== undefined && this.now() - v.at < AUTH_REFRESH_MS) return Promise.resolve(v.material);
    this.computing ??= (async () => {
      const at = this.now();
      const material = await this.compute();
      this.value = { material, at };
      return material;
    })().finally(() => (this.computing = undefined));
    return this.computing;
  }

  forget(): void {
    this.value = undefined;
  }
}
