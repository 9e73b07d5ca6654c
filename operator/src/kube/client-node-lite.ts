/**
 * The few runtime values the always-on code needs from @kubernetes/client-node, imported from
 * the package's own small modules instead of its root.
 *
 * Importing the root (or `KubeConfig`, whose module imports the generated index) loads every
 * generated API and model: 21 MB of source, 27 MiB of heap that stays live, ≈66 MiB of RSS, and
 * V8 then lets the heap grow in proportion under load (a JSON server under autocannon peaks at
 * 109–114 MiB without the package loaded, 227 MiB with it). So the operator's hot and always-on
 * paths (raw requests, informers, status patches, Events) use only these modules, and the typed
 * clients are loaded on first use (kube/access.ts, kube/client.ts).
 *
 * client-node 1.4 has no `exports` map, so these paths are importable; the values are the very
 * ones the root re-exports (the same module instances: `instanceof ApiException` holds for an
 * error built here and the class imported from the root). client-node-lite.test.ts checks that
 * identity, so an upgrade that moves a module fails there rather than at run time.
 */
export { ApiException } from '@kubernetes/client-node/dist/gen/apis/exception.js';
export { Exec } from '@kubernetes/client-node/dist/exec.js';
export { Observable } from '@kubernetes/client-node/dist/gen/rxjsStub.js';
export { PatchStrategy } from '@kubernetes/client-node/dist/patch.js';
export { setHeaderOptions } from '@kubernetes/client-node/dist/middleware.js';
