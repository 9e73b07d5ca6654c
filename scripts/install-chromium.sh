#!/usr/bin/env bash
# Installs Debian's chromium for the console's browser test (e2e/console.test.ts drives it with
# playwright-core; no browser is downloaded by npm). Idempotent: does nothing when
# /usr/bin/chromium exists. Needs root (CI runs as root); otherwise says what to run.
set -euo pipefail
if [ -x /usr/bin/chromium ]; then exit 0; fi
if [ "$(id -u)" != 0 ]; then
  echo "install-chromium: /usr/bin/chromium is missing; run as root: apt-get install -y chromium" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends chromium >/dev/null
echo "install-chromium: $(/usr/bin/chromium --version)"
