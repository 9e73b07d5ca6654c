/**
 * The smallest label effect node can do (operator.bench.ts §2): a child process that takes the
 * bench's Falco alerts over node:http, parses each, answers 202 and sends the label PATCH the
 * alert's rule names for its pod — the operator's own PATCH (kube/raw.ts RawClient over its
 * keep-alive pool, a merge patch with a metadata-only answer). No journal, no matching beyond a
 * map lookup, no outcome, no Event, no log line, no metrics: the two I/Os of an effect and
 * nothing else, sharing their wake-ups as the operator's do.
 *
 * The bench drives it with the same alerts, pacing and pod watch as the operator and reads its
 * CPU from /proc, so its row is the floor under the operator's at the same rate, on the same
 * machine, in the same minute: what any node process would spend on an effect here.
 *
 * Protocol: the parent forks it with the operator's V8 flags and sends `{ kubeconfig, labels }`
 * (Falco rule name → the labels its effect sets) over IPC; the child answers `{ port }` once it
 * listens; `'stop'` ends it.
 */
import http from 'node:http';
import { apiPath, MERGE_PATCH, RawClient } from '../operator/src/kube/raw.js';
import { KeepAliveKubeConfig, authSourceOf } from '../operator/src/kube/transport.js';

export interface EffectFloorRequest {
  readonly kubeconfig: string;
  readonly labels: Readonly<Record<string, Readonly<Record<string, string>>>>;
}

interface Alert {
  readonly rule?: unknown;
  readonly output_fields?: Readonly<Record<string, unknown>>;
}

function serve(req: EffectFloorRequest): void {
  const pooled = new KeepAliveKubeConfig();
  pooled.loadFromString(req.kubeconfig);
  const raw = new RawClient(authSourceOf(pooled));
  const patches = new Map(Object.entries(req.labels).map(([rule, labels]) => [rule, { metadata: { labels } }] as const));
  const answer = (res: http.ServerResponse, status: number, body: string): void => {
    res.writeHead(status, ['content-type', 'application/json', 'content-length', String(Buffer.byteLength(body))]);
    res.end(body);
  };
  const server = http.createServer((request, res) => {
    const chunks: Buffer[] = [];
    request.on('data', (c: Buffer) => chunks.push(c));
    request.on('end', () => {
      let alert: Alert;
      try {
        alert = JSON.parse(Buffer.concat(chunks).toString('utf8')) as Alert;
      } catch {
        answer(res, 400, '{"error":"not JSON"}');
        return;
      }
      const patch = typeof alert.rule === 'string' ? patches.get(alert.rule) : undefined;
      const ns = alert.output_fields?.['k8s.ns.name'];
      const pod = alert.output_fields?.['k8s.pod.name'];
      if (patch === undefined || typeof ns !== 'string' || typeof pod !== 'string') {
        answer(res, 400, '{"error":"no label rule or pod"}');
        return;
      }
      answer(res, 202, '{"status":"accepted"}');
      // A failed PATCH shows in the bench as an effect not seen; nothing else to do with it here.
      raw.request({ method: 'PATCH', path: apiPath('api', 'v1', 'namespaces', ns, 'pods', pod), body: patch, contentType: MERGE_PATCH, metadataOnly: true, discard: true }).catch(() => undefined);
    });
  });
  server.keepAliveTimeout = 60_000;
  server.listen(0, '127.0.0.1', () => {
    const address = server.address();
    process.send!({ port: typeof address === 'object' && address !== null ? address.port : 0 });
  });
  const stop = (): void => {
    pooled.destroyAgent();
    server.close();
    server.closeAllConnections();
    process.exit(0);
  };
  process.on('message', (m: unknown) => {
    if (m === 'stop') stop();
  });
  // The bench died without saying so (killed, crashed): do not stay behind listening.
  process.once('disconnect', stop);
}

process.once('message', (m: EffectFloorRequest) => serve(m));
