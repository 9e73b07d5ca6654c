/**
 * kubernetes:exec — run the rule's command (an argv list, no shell) in the alert's pod, through
 * pods/exec, and put its exit code and output in the outcome (talon-compat §4, without its
 * injection: alert fields reach the command ONLY as environment variables, see exec-env.ts).
 *
 * The argv executed is `env -- NAME=value … <command…>` (just `<command…>` when no field is
 * passed): every alert value is one argv entry of `env`, the command is the rule's, nothing is
 * spliced into a string, and there is no shell unless the rule's command is one. Runs in the
 * first container, a named one, or every container one after the other; under a command
 * timeout (then the session is closed) within the action's own timeout. A non-zero exit is a
 * failure that is never retried (the command may have had effects).
 */
import { Type, type Static } from '@sinclair/typebox';
import type { Actionner } from '../types.js';
import { alertEnv, argvWithEnv, ENV_PREFIX_PATTERN, skippedText } from './exec-env.js';
import { runCommand } from './exec-run.js';

/** The parameters kubernetes:exec and kubernetes:script share: where, how long, how much, which fields. */
export const CommandParamsFields = {
  container: Type.Optional(Type.String({ minLength: 1, maxLength: 63, description: "The container to run in (any of the pod's containers, init or ephemeral); default: the first container." })),
  allContainers: Type.Boolean({ default: false, description: 'Run in every container of the pod, one after the other (not with `container`).' }),
  timeoutSeconds: Type.Integer({ minimum: 1, maximum: 3600, default: 20, description: "The command's timeout (all containers together); then the session is closed and the outcome says CommandTimeout. Keep it below the action's timeoutSeconds." }),
  maxOutputBytes: Type.Integer({ minimum: 0, maximum: 8 * 1024 * 1024, default: 65536, description: 'Bytes of stdout and of stderr kept per container (the outcome message shows the first 1024 characters; the artifact all that was kept).' }),
  envPrefix: Type.String({ default: '', pattern: ENV_PREFIX_PATTERN, description: "Put before every variable name, e.g. FALCO_ (FALCO_FD_NAME); '' = Talon's names (FD_NAME)." }),
  envFields: Type.Optional(
    Type.Array(Type.String({ minLength: 1, maxLength: 256 }), {
      maxItems: 256,
      uniqueItems: true,
      description: "Only these become variables: Falco field names (fd.name) and/or the alert's own rule, priority, source, hostname, tags; default: all of them and every field of the alert. [] = none (the command then runs without env).",
    }),
  ),
} as const;

export const ExecParams = Type.Object(
  {
    command: Type.Array(Type.String({ maxLength: 65536 }), {
      minItems: 1,
      maxItems: 256,
      description: "The command as an argv list, run as is, without a shell: ['ps', '-ef']. Alert fields are NOT substituted into it; they are in its environment.",
    }),
    ...CommandParamsFields,
  },
  { additionalProperties: false },
);
export type ExecParams = Static<typeof ExecParams>;

/** Precheck shared with kubernetes:script: `container` and `allContainers` exclude each other. */
export function checkContainerChoice(params: { container?: string; allContainers: boolean }): { ok: true } | { ok: false; reason: 'InvalidParameters'; message: string } {
  if (params.container !== undefined && params.allContainers) return { ok: false, reason: 'InvalidParameters', message: "set either 'container' or 'allContainers', not both" };
  return { ok: true };
}

/** Env options from the shared parameters. */
export const envOptions = (p: { envPrefix: string; envFields?: readonly string[] }): { prefix: string; fields?: readonly string[] } => ({
  prefix: p.envPrefix,
  ...(p.envFields !== undefined ? { fields: p.envFields } : {}),
});

/** RBAC of commands run in pods: read the pod (containers, uid), and exec (WebSocket exec needs create and get). */
export const EXEC_RBAC = [
  { apiGroups: [''], resources: ['pods'], verbs: ['get'] },
  { apiGroups: [''], resources: ['pods/exec'], verbs: ['create', 'get'] },
];

export const execActionner: Actionner<ExecParams> = {
  info: {
    name: 'kubernetes:exec',
    description: "Run a command (argv, no shell) in the alert's pod; alert fields only as environment variables",
    requiredFields: [],
    defaultContinue: true,
    destructive: false,
    target: 'pod',
    output: 'allowed',
    rbac: EXEC_RBAC,
    example: { command: ['ps', '-ef'], timeoutSeconds: 10 },
  },
  paramsSchema: ExecParams,

  precheck(_event, _target, params) {
    return checkContainerChoice(params);
  },

  async run(ctx) {
    const env = alertEnv(ctx.event, { ...envOptions(ctx.params), ...(ctx.contexts ? { contexts: ctx.contexts } : {}) });
    const argv = argvWithEnv(env.entries, ctx.params.command);
    const what = `command ${JSON.stringify(ctx.params.command)}`;
    return runCommand(ctx, argv, what, skippedText(env.skipped), 'exec-output.txt');
  },
};
