/**
 * The GCS JSON-API test peer (operator/test/peers/gcs.ts) as its own process, for the
 * artifact-stream bench: prints its endpoint on the first line of stdout, serves until killed.
 * Usage: node dist/bench/gcs-peer.js <bucket>…
 */
import { startGcsServer } from '../operator/test/peers/gcs.js';

const server = await startGcsServer({ buckets: process.argv.slice(2) });
process.stdout.write(`${server.endpoint}\n`);
process.on('SIGTERM', () => void server.stop().then(() => process.exit(0)));
