/**
 * kubernetes:script — run the rule's script in the alert's pod with a shell, through
 * pods/exec, and put its exit code and output in the outcome (talon-compat §4, without its
 * injection).
 *
 * The argv executed is `env -- NAME=value … <shell> -c <script> talon-script`: the script text
 * is the rule's (one argv entry, never built from the alert), and alert fields are only in its
 * environment (exec-env.ts), so `"$FD_NAME"` in the script expands to the field's text and
 * that text is never parsed as shell code. The shell must exist in the container. Container
 * choice, timeout, output cap and variables as kubernetes:exec.
 */
import { Type, type Static } from '@sinclair/typebox';
import type { Actionner } from '../types.js';
import { alertEnv, argvWithEnv, skippedText } from './exec-env.js';
import { checkContainerChoice, CommandParamsFields, envOptions, EXEC_RBAC } from './exec.js';
import { runCommand } from './exec-run.js';

export const ScriptParams = Type.Object(
  {
    script: Type.String({ minLength: 1, maxLength: 65536, description: 'The script, run as `<shell> -c <script>`; read alert fields as quoted variables ("$FD_NAME").' }),
    shell: Type.String({ default: '/bin/sh', minLength: 1, maxLength: 256, pattern: '^[^\\s]+$', description: 'The shell (a path or a name on the container\'s PATH), run with -c.' }),
    ...CommandParamsFields,
  },
  { additionalProperties: false },
);
export type ScriptParams = Static<typeof ScriptParams>;

export const scriptActionner: Actionner<ScriptParams> = {
  info: {
    name: 'kubernetes:script',
    description: "Run a script with a shell in the alert's pod; alert fields only as environment variables",
    requiredFields: [],
    defaultContinue: true,
    destructive: false,
    target: 'pod',
    output: 'allowed',
    rbac: EXEC_RBAC,
    example: { script: 'ls -la -- "$(dirname -- "$FD_NAME")"\nps -ef', timeoutSeconds: 10 },
  },
  paramsSchema: ScriptParams,

  precheck(_event, _target, params) {
    return checkContainerChoice(params);
  },

  async run(ctx) {
    const env = alertEnv(ctx.event, { ...envOptions(ctx.params), ...(ctx.contexts ? { contexts: ctx.contexts } : {}) });
    const argv = argvWithEnv(env.entries, [ctx.params.shell, '-c', ctx.params.script, 'talon-script']);
    return runCommand(ctx, argv, `script (${ctx.params.shell})`, skippedText(env.skipped), 'script-output.txt');
  },
};
