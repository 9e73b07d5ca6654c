/**
 * `node --import <this file>` prints one stderr line per module a process resolves inside
 * node_modules: `talon-load-trace <package> <path in the package>`. The e2e tier uses it to
 * show what the real operator process loads (e2e/lazy-loading.test.ts): an idle operator must
 * not load @kubernetes/client-node's root or the cloud/SMTP/tracing SDKs.
 */
import { register } from 'node:module';

register(new URL('./load-trace-hooks.js', import.meta.url));
