#!/usr/bin/env node
/**
 * `kubectl talon …`: the kubectl plugin. kubectl runs any executable named `kubectl-talon` on
 * the PATH for `kubectl talon`; `npm run build` makes this file that executable
 * (package.json `bin`). One entry per subcommand in COMMANDS, each in its own module under
 * plugin/ so that subcommands are added without touching each other.
 *
 * Subcommands that talk to the cluster read the same kubeconfig as kubectl (`KUBECONFIG`,
 * `--kubeconfig`), so what a user may see and do is decided by their own RBAC.
 */
import { isEntryPoint } from '../lib/entry-point.js';
import { check, testEvent, type CliOutput } from '../cli.js';
import { decide } from './approve.js';
import { convertCommand } from './convert.js';
import { statusCommand } from './status.js';
import { revert } from './revert.js';

/** One subcommand: its arguments after the name; resolves to the process exit code. */
export type PluginCommand = (args: readonly string[], out: CliOutput) => Promise<number> | number;

interface CommandEntry {
  readonly summary: string;
  readonly run: PluginCommand;
}

/** The subcommands, in the order `kubectl talon help` lists them. */
export const COMMANDS: Readonly<Record<string, CommandEntry>> = {
  check: { summary: 'validate TalonRule/TalonAction manifests offline (as talon-operator check)', run: (a, o) => check(a, o) },
  test: { summary: 'show which rules an alert matches and what would be done (as talon-operator test)', run: (a, o) => testEvent(a, o) },
  approve: { summary: 'approve a TalonApproval: NAME [-n NAMESPACE] [--reason TEXT] (needs the verb approve)', run: (a, o) => decide('Approved', a, o) },
  reject: { summary: 'reject a TalonApproval: NAME [-n NAMESPACE] [--reason TEXT] (needs the verb approve)', run: (a, o) => decide('Rejected', a, o) },
  convert: { summary: 'turn Falco Talon rules files into ClusterTalonRule/ClusterTalonAction manifests (as talon-operator convert)', run: convertCommand },
  status: { summary: 'rules and actions, their readiness, counters, recent outcomes and Events, read from the cluster', run: statusCommand },
  revert: { summary: 'undo one outcome of an action with revertAfter now: revert (pod|node|networkpolicy)/NAME [-n NS] [--id ID]', run: (a, o) => revert(a, o) },
};

const processOutput: CliOutput = {
  stdout: (t) => void process.stdout.write(t),
  stderr: (t) => void process.stderr.write(t),
};

export function usage(): string {
  const width = Math.max(...Object.keys(COMMANDS).map((c) => c.length));
  const lines = Object.entries(COMMANDS).map(([name, c]) => `  kubectl talon ${name.padEnd(width)}  ${c.summary}`);
  return `usage:\n${lines.join('\n')}\n`;
}

export async function runPlugin(argv: readonly string[], out: CliOutput = processOutput): Promise<number> {
  const [name, ...rest] = argv;
  const entry = name === undefined ? undefined : COMMANDS[name];
  if (!entry) {
    out.stderr(usage());
    return name === undefined || name === 'help' || name === '--help' ? 0 : 2;
  }
  return entry.run(rest, out);
}

if (isEntryPoint(import.meta.url)) {
  runPlugin(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (err: unknown) => {
      process.stderr.write(`kubectl talon: ${err instanceof Error ? err.message : String(err)}\n`);
      process.exit(1);
    },
  );
}
