/**
 * aws:lambda — invokes an AWS Lambda function with the alert and the rule's context
 * (cloud-payload.ts).
 *
 * Split of powers: an action names the function, a qualifier and the invocation type; the
 * region, the endpoint and the credentials live only in the operator config
 * (`actionners.aws`), so a rule can never send the operator's credentials elsewhere.
 * Credentials: the standard AWS chain (environment, IRSA / pod identity, instance metadata,
 * shared files) unless `accessKeyIdFile` + `secretAccessKeyFile` (+ `sessionTokenFile`) name
 * files, read through `Secret` (never printed) and again every few minutes.
 *
 * Outcome: status 2xx without a function error → Invoked, with the status and the response
 * payload capped at `maxResponseBytes`; a function error (`X-Amz-Function-Error`) → Failed
 * FunctionError, not retried (the function ran); throttling (429, TooManyRequestsException)
 * and 5xx → Failed InvokeFailed, retryable (the dispatcher retries with backoff); any other
 * refusal → InvokeFailed, not retried. The SDK does not retry by itself (maxAttempts 1).
 * Tenancy: `cloud` — ClusterTalonRules, or TalonRules in `safety.cloudNamespaces`.
 */
import type { LambdaClient } from '@aws-sdk/client-lambda';
import { Type, type Static } from '@sinclair/typebox';
import { capText, cloudPayload } from '../cloud-payload.js';
import { failed, ok, type ActionContext, type Actionner, type ActionResult } from '../types.js';
import { awsFileCredentials } from '../../lib/aws-credentials.js';
import { firstUse, memoAsync } from '../../lib/first-use.js';

/** The SDK, loaded by the first invocation (lib/first-use.ts: an idle operator does not carry it). */
const lambdaSdk = firstUse('@aws-sdk/client-lambda', () => import('@aws-sdk/client-lambda'));

const NAME = 'aws:lambda';

const LambdaParamsSchema = Type.Object(
  {
    functionName: Type.String({
      minLength: 1,
      maxLength: 170,
      pattern: '^(arn:[a-z-]+:lambda:[a-z0-9-]+:\\d{12}:function:)?[a-zA-Z0-9-_]+$',
      description: 'Function name or ARN (no qualifier in it: use `qualifier`).',
    }),
    qualifier: Type.String({ default: '$LATEST', minLength: 1, maxLength: 128, pattern: '^(\\$LATEST|[a-zA-Z0-9-_]+)$', description: 'Version or alias.' }),
    invocationType: Type.Union([Type.Literal('RequestResponse'), Type.Literal('Event'), Type.Literal('DryRun')], {
      default: 'RequestResponse',
      description: 'RequestResponse (wait for the result), Event (asynchronous) or DryRun (check permissions only).',
    }),
  },
  { additionalProperties: false },
);
export type LambdaParams = Static<typeof LambdaParamsSchema>;

/** `actionners.aws` in the operator config. */
export const AwsConfigSchema = Type.Object(
  {
    region: Type.String({ minLength: 1, default: 'us-east-1', description: 'Region of the functions.' }),
    endpoint: Type.Optional(Type.String({ pattern: '^https?://[^\\s/?#]+(/[^\\s?#]*)?$', description: 'Lambda endpoint (default: AWS’s for the region), e.g. a VPC endpoint.' })),
    accessKeyIdFile: Type.Optional(Type.String({ minLength: 1, description: 'File holding the access key id (with secretAccessKeyFile); absent = the standard AWS credential chain.' })),
    secretAccessKeyFile: Type.Optional(Type.String({ minLength: 1, description: 'File holding the secret access key.' })),
    sessionTokenFile: Type.Optional(Type.String({ minLength: 1, description: 'File holding a session token (temporary credentials).' })),
    maxResponseBytes: Type.Integer({ minimum: 0, maximum: 1024 * 1024, default: 4096, description: 'Largest part of a function’s response kept in the outcome message.' }),
  },
  { additionalProperties: false },
);
export type AwsConfig = Static<typeof AwsConfigSchema>;

export interface LambdaState {
  /** Sends one command; in production the LambdaClient, built by the first send; a fake in unit tests. */
  readonly client: Pick<LambdaClient, 'send'>;
  readonly maxResponseBytes: number;
}

/** How long credentials read from files are used before the files are read again. */
/** The configured credential files as a provider (lib/aws-credentials.ts), or undefined for the standard chain. */
export function awsCredentialsOf(c: AwsConfig, now: () => number = Date.now) {
  return awsFileCredentials('actionners.aws', c, now);
}

/**
 * Checks the settings now and throws (naming files, never contents) when credential files are
 * unusable; the SDK and the client it builds are loaded by the first invocation.
 */
export function initLambda(config: Readonly<Record<string, unknown>>): LambdaState {
  const c = config as AwsConfig;
  const credentials = awsCredentialsOf(c);
  const client = memoAsync(async () => {
    const { LambdaClient } = await lambdaSdk();
    return new LambdaClient({
      region: c.region,
      ...(c.endpoint !== undefined ? { endpoint: c.endpoint } : {}),
      ...(credentials ? { credentials } : {}),
      maxAttempts: 1,
    });
  });
  const send = (async (command: never, options: never) => (await client()).send(command, options)) as LambdaClient['send'];
  return { client: { send }, maxResponseBytes: c.maxResponseBytes };
}

interface AwsErrorLike {
  readonly name?: string;
  readonly message?: string;
  readonly $metadata?: { readonly httpStatusCode?: number };
}

/** Maps a thrown SDK error to an outcome: throttling and 5xx (or no answer) retryable. */
export function invokeError(err: unknown, fn: string): ActionResult {
  const e = (err ?? {}) as AwsErrorLike;
  const status = e.$metadata?.httpStatusCode;
  const throttled = status === 429 || e.name === 'TooManyRequestsException' || e.name === 'ThrottlingException';
  const retryable = throttled || status === undefined || status >= 500;
  const what = throttled ? 'throttled' : `refused${status === undefined ? '' : ` with status ${status}`}`;
  return failed('InvokeFailed', `invoking Lambda function ${fn} ${what}: ${e.name ?? 'Error'}: ${e.message ?? String(err)}`, retryable);
}

async function run(ctx: ActionContext<LambdaParams>): Promise<ActionResult> {
  const state = ctx.state as LambdaState | undefined;
  if (state === undefined) return failed('InvokeFailed', `${NAME} is not initialised`, true);
  const p = ctx.params;
  const fn = `${p.functionName}:${p.qualifier}`;
  const payload = JSON.stringify(cloudPayload(ctx, NAME));
  let InvokeCommand;
  try {
    ({ InvokeCommand } = await lambdaSdk());
  } catch (err) {
    // A broken installation: retrying will not mend it.
    return failed('InvokeFailed', `invoking Lambda function ${fn}: ${(err as Error).message}`);
  }
  let out;
  try {
    out = await state.client.send(
      new InvokeCommand({ FunctionName: p.functionName, Qualifier: p.qualifier, InvocationType: p.invocationType, Payload: Buffer.from(payload) }),
      { abortSignal: ctx.signal },
    );
  } catch (err) {
    return invokeError(err, fn);
  }
  const status = out.StatusCode ?? 0;
  const body = out.Payload ? capText(out.Payload, state.maxResponseBytes) : '';
  if (out.FunctionError !== undefined && out.FunctionError !== '') {
    return failed('FunctionError', `Lambda function ${fn} returned status ${status} with function error ${out.FunctionError}: ${body}`);
  }
  if (status < 200 || status > 299) return failed('InvokeFailed', `Lambda function ${fn} returned status ${status}: ${body}`, status >= 500);
  return ok('Invoked', `Lambda function ${fn} invoked (${p.invocationType}), status ${status}${body === '' ? '' : `: ${body}`}`);
}

export const lambdaActionner: Actionner<LambdaParams> = {
  info: {
    name: NAME,
    description: 'Invoke an AWS Lambda function with the alert and the rule context.',
    requiredFields: [],
    defaultContinue: true,
    destructive: false,
    target: 'none',
    cloud: true,
    output: 'none',
    rbac: [],
    example: { functionName: 'falco-response', qualifier: 'live', invocationType: 'Event' },
  },
  paramsSchema: LambdaParamsSchema,
  configSchema: AwsConfigSchema,
  init: (config) => initLambda(config),
  precheck: () => ({ ok: true }),
  run,
};
