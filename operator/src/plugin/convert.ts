/**
 * `kubectl talon convert [--namespace NS] … TALON_RULES.yaml…`: Falco Talon rules files to
 * talon.dev manifests on stdout, warnings on stderr — exactly `talon-operator convert`
 * (convert/convert.ts), so that `kubectl talon convert rules.yaml | kubectl apply -f -` works
 * where only the plugin is installed.
 */
import { convert, type CliOutput } from '../cli.js';

export function convertCommand(args: readonly string[], out: CliOutput): number {
  return convert(args, out);
}
