/**
 * Issue 10 (outputs): the real operator process starts with `aws:s3` and `gcp:gcs` profiles in
 * its config (credentials from files), and refuses to start — naming the file, never a secret —
 * when a profile's secret file is missing. The download → S3 round trip needs an actionner that
 * produces an artifact (kubernetes:download); its e2e builds on `startS3Server` /
 * `S3Server.profile()` (operator/test/peers/s3.ts).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadE2EKubeConfig } from './support/cluster.js';
import { OperatorProcess, installCRDs } from './support/operator.js';
import { startS3Server, TEST_SECRET_ACCESS_KEY, type S3Server } from '../operator/test/peers/s3.js';
import { startGcsServer, type GcsServer } from '../operator/test/peers/gcs.js';

describe('outputs', () => {
  const kc = loadE2EKubeConfig();
  let s3: S3Server;
  let gcs: GcsServer;
  let dir = '';

  before(async () => {
    await installCRDs(kc);
    dir = mkdtempSync(join(tmpdir(), 'talon-e2e-outputs-'));
    s3 = await startS3Server({ buckets: ['forensics'] });
    gcs = await startGcsServer({ buckets: ['forensics'] });
  });
  after(async () => {
    await s3?.stop();
    await gcs?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('starts and becomes ready with S3 and GCS profiles whose credentials are files', async () => {
    const op = await OperatorProcess.start({
      config: {
        outputs: {
          'aws:s3': { profiles: { default: s3.profile(dir) } },
          'gcp:gcs': { profiles: { default: { apiEndpoint: gcs.endpoint, useAuthWithCustomEndpoint: false, projectId: 'talon-e2e' } } },
        },
      },
    });
    try {
      assert.equal((await op.readyz()).status, 200);
      assert.ok(!op.logs.join('\n').includes(TEST_SECRET_ACCESS_KEY), 'the secret is never logged');
    } finally {
      await op.stop();
    }
  });

  it('refuses to start when a profile names a secret file that is not there, naming the file and not the secret', async () => {
    const profile = { ...s3.profile(dir), secretAccessKeyFile: join(dir, 'missing-secret') };
    const err = await OperatorProcess.start({ config: { outputs: { 'aws:s3': { profiles: { minio: profile } } } } }).then(
      async (op) => {
        await op.stop();
        return assert.fail('the operator started');
      },
      (e: unknown) => e as Error,
    );
    assert.match(err.message, /operator exited with [1-9]/);
    assert.match(err.message, /missing-secret/);
    assert.ok(!err.message.includes(TEST_SECRET_ACCESS_KEY));
  });
});
