#!/usr/bin/env bash
# Installs the real programs authgate's tests run against (Debian packages):
# redis-server (store suite, fault injection), nginx (forward-auth behind a
# real Nginx), chromium (browser tests), postgresql (user provisioning).
# Idempotent: installs only what is missing.
set -euo pipefail

need=()
command -v redis-server >/dev/null || need+=(redis-server)
command -v nginx >/dev/null || need+=(nginx-light)
command -v chromium >/dev/null || need+=(chromium)
[ -d /usr/lib/postgresql ] || need+=(postgresql)

if [ ${#need[@]} -eq 0 ]; then
	echo "install-deps: all present"
	exit 0
fi
echo "install-deps: installing ${need[*]}"
export DEBIAN_FRONTEND=noninteractive
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO=sudo
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
# Debian starts the services it installs; the tests start their own on free ports.
for svc in redis-server nginx postgresql; do
	$SUDO service "$svc" stop >/dev/null 2>&1 || true
done
