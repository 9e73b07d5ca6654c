/**
 * AWS credentials read from files (mounted Kubernetes Secrets), for the operator's AWS clients
 * (the aws:s3 output, the aws:lambda actionner). A provider that reads the files, and again
 * after CREDENTIALS_TTL_MS so a rotated Secret is picked up; or undefined when no file is
 * named (the standard AWS chain: IRSA/pod identity, environment, instance metadata). The
 * files are read once at once, so a missing or empty file stops the caller naming the file,
 * never its content.
 */
import { Secret } from './secret.js';

/** How long credentials read from files are used before the files are read again. */
export const CREDENTIALS_TTL_MS = 5 * 60 * 1000;

export interface AwsCredentialFiles {
  readonly accessKeyIdFile?: string;
  readonly secretAccessKeyFile?: string;
  readonly sessionTokenFile?: string;
}

export interface AwsCredentials {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  readonly sessionToken?: string;
  readonly expiration: Date;
}

/** `where` names the settings in errors, e.g. `profile 'default'` or `actionners.aws`. */
export function awsFileCredentials(where: string, files: AwsCredentialFiles, now: () => number = Date.now): (() => Promise<AwsCredentials>) | undefined {
  if (files.accessKeyIdFile === undefined && files.secretAccessKeyFile === undefined) {
    if (files.sessionTokenFile !== undefined) throw new Error(`${where}: sessionTokenFile needs accessKeyIdFile and secretAccessKeyFile`);
    return undefined;
  }
  if (files.accessKeyIdFile === undefined || files.secretAccessKeyFile === undefined) {
    throw new Error(`${where}: accessKeyIdFile and secretAccessKeyFile go together`);
  }
  const { accessKeyIdFile, secretAccessKeyFile, sessionTokenFile } = files;
  const read = (): AwsCredentials => {
    const token = sessionTokenFile === undefined ? undefined : Secret.fromFile(sessionTokenFile);
    return {
      accessKeyId: Secret.fromFile(accessKeyIdFile).reveal(),
      secretAccessKey: Secret.fromFile(secretAccessKeyFile).reveal(),
      ...(token ? { sessionToken: token.reveal() } : {}),
      expiration: new Date(now() + CREDENTIALS_TTL_MS),
    };
  };
  read();
  return async () => read();
}
