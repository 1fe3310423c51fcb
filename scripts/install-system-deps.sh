#!/usr/bin/env bash
# Installs the Debian packages Jemput's tests and demo need, only when they are missing.
# Usage: scripts/install-system-deps.sh [test|demo]
set -euo pipefail
want=(python3 python3-venv mosquitto)
[ "${1:-test}" = test ] && want+=(chromium fonts-dejavu-core postgresql systemd qemu-user-static mmdebstrap)
missing=()
for pkg in "${want[@]}"; do
  case "$pkg" in
    python3) command -v python3 >/dev/null || missing+=("$pkg") ;;
    python3-venv) python3 -c 'import venv, ensurepip' 2>/dev/null || missing+=("$pkg") ;;
    mosquitto) command -v mosquitto >/dev/null || [ -x /usr/sbin/mosquitto ] || missing+=("$pkg") ;;
    chromium) [ -x /usr/bin/chromium ] || missing+=("$pkg") ;;
    postgresql) ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing+=("$pkg") ;;
    systemd) command -v systemd-analyze >/dev/null || missing+=("$pkg") ;;   # offline unit checks in the tests
    qemu-user-static) command -v qemu-aarch64-static >/dev/null || missing+=("$pkg") ;;   # scripts/arm64-check.sh
    mmdebstrap) command -v mmdebstrap >/dev/null || missing+=("$pkg") ;;
    *) dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg") ;;
  esac
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "Missing Debian packages: ${missing[*]}. Run as root, or: sudo apt-get install ${missing[*]}" >&2
  exit 1
fi
echo "Installing Debian packages: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}"
# The packaged broker and database server must not hold their ports for our tests and demo; we start our own.
if command -v systemctl >/dev/null 2>&1; then
  for svc in mosquitto postgresql; do
    [[ " ${missing[*]} " == *" $svc "* ]] && systemctl disable --now "$svc" >/dev/null 2>&1 || true
  done
fi
