/**
 * True when the module at `moduleUrl` (its `import.meta.url`) is the program node started, not
 * a module imported by another (e.g. its tests); follows symlinks such as npm's bin links.
 */
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export function isEntryPoint(moduleUrl: string, script: string | undefined = process.argv[1]): boolean {
  if (!script) return false;
  try {
    return realpathSync(script) === realpathSync(fileURLToPath(moduleUrl));
  } catch {
    return false;
  }
}
