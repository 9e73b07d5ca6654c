#!/usr/bin/env bash
# Installs the Debian packages the tests run, when missing (idempotent; CI runs as root):
#   lua5.1   the Lua Argo CD embeds (gopher-lua implements 5.1): the integration test runs the
#            Argo CD health checks of config/argocd/ with it.
# Not root and something missing: says what to install and fails.
set -euo pipefail
PACKAGES=(lua5.1)
missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
  echo "system-packages: missing ${missing[*]}; run as root: apt-get install -y ${missing[*]}" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get install -y --no-install-recommends "${missing[@]}" || { apt-get update && apt-get install -y --no-install-recommends "${missing[@]}"; }
