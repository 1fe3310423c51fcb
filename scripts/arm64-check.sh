#!/usr/bin/env bash
# The arm64 check: does Jemput run on a Raspberry Pi's userland? Proven here, without a Pi.
#
# For Debian Bookworm (Python 3.11; Raspberry Pi OS 12) and Trixie (Python 3.13; Raspberry Pi OS 13):
#   1. build an arm64 userland with `mmdebstrap --variant=extract --architectures=arm64` from Debian's mirror
#      (Raspberry Pi OS is Debian's arm64 archive plus a firmware/kernel repository we do not need here);
#   2. fetch the aarch64 wheels of every runtime dependency (and the few test tools) with
#      `pip download --platform manylinux..._aarch64 --only-binary=:all:`; a dependency without an aarch64 wheel
#      fails the check and is named;
#   3. under `qemu-aarch64-static -L ROOT`: import every module of the project (and time cv2, numpy, pyrage,
#      cryptography), run the protocol/packet/NIK unit tests, and a `jemput station run --simulate` smoke that
#      must answer the kiosk's health endpoint.
# Bounded: the whole check is killed after ARM64_CHECK_LIMIT_S (default 600 s). Installs qemu-user-static and
# mmdebstrap when missing (as root). Work files in ARM64_CHECK_WORK (default /var/tmp/jemput-arm64); userlands
# already built there are reused (delete the folder to rebuild).
# Usage: scripts/arm64-check.sh [bookworm] [trixie]
set -euo pipefail
LIMIT_S=${ARM64_CHECK_LIMIT_S:-600}
if [ -z "${JEMPUT_ARM64_INNER:-}" ]; then
  export JEMPUT_ARM64_INNER=1
  start=$(date +%s)
  rc=0
  timeout --kill-after=15 "$LIMIT_S" bash "$0" "$@" || rc=$?
  if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
    echo "arm64 check: FAILED - not finished within ${LIMIT_S} s" >&2
  fi
  echo "arm64 check: $([ "$rc" -eq 0 ] && echo passed || echo "FAILED (exit $rc)") in $(( $(date +%s) - start )) s"
  exit "$rc"
fi

cd "$(dirname "$0")/.."
REPO=$(pwd)
WORK=${ARM64_CHECK_WORK:-/var/tmp/jemput-arm64}
# The Debian mirror this machine's apt already uses (deb822 .sources or a one-line sources.list); no host is
# written into the project.
host_mirror() {
  { awk '/^URIs:/ {for (i = 2; i <= NF; i++) print $i}' /etc/apt/sources.list.d/*.sources 2>/dev/null
    awk '$1 == "deb" {for (i = 2; i <= NF; i++) if ($i ~ /^[a-z]+:\/\//) {print $i; break}}' \
      /etc/apt/sources.list 2>/dev/null; true; } | { grep -v -e security -e '^$' || true; } | head -n 1
}
MIRROR=${ARM64_CHECK_MIRROR:-$(host_mirror)}
SUITES=("$@")
[ ${#SUITES[@]} -eq 0 ] && SUITES=(bookworm trixie)
mkdir -p "$WORK"

say() { echo "== [$(date +%H:%M:%S)] $*"; }
fail() { echo "arm64 check: $*" >&2; exit 1; }
[ -n "$MIRROR" ] || fail "no Debian mirror in /etc/apt/sources.list{,.d}: set ARM64_CHECK_MIRROR"

# -- tools ------------------------------------------------------------------------------------------------------
missing=()
command -v qemu-aarch64-static >/dev/null || missing+=(qemu-user-static)
command -v mmdebstrap >/dev/null || missing+=(mmdebstrap)
if [ ${#missing[@]} -gt 0 ]; then
  [ "$(id -u)" -eq 0 ] || fail "missing ${missing[*]}; run as root or: sudo apt-get install ${missing[*]}"
  say "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
if [ -x "$REPO/.venv/bin/python" ]; then HOST_PY="$REPO/.venv/bin/python"; else HOST_PY=python3; fi
"$HOST_PY" -m pip --version >/dev/null 2>&1 || fail "no pip for $HOST_PY (run 'make .venv/.installed-stamp' first)"

# Runtime dependencies straight from pyproject.toml, plus what the unit tests import.
mapfile -t RUNTIME_REQS < <("$HOST_PY" -c '
import tomllib
print("\n".join(tomllib.load(open("pyproject.toml", "rb"))["project"]["dependencies"]))')
TEST_REQS=("pytest>=8,<10" "pytest-timeout>=2.3,<3" "hypothesis>=6.100,<7")

# The project itself as a wheel (entry points included: `jemput` finds its sub-commands through them).
say "building the project wheel"
rm -rf "$WORK/project-wheel"
"$HOST_PY" -m pip wheel -q --no-deps -w "$WORK/project-wheel" "$REPO" >"$WORK/project-wheel.log" 2>&1 \
  || { cat "$WORK/project-wheel.log" >&2; fail "cannot build the project wheel"; }
PROJECT_WHEEL=$(ls "$WORK"/project-wheel/jemput-*.whl)

prepare_suite() {
  local suite=$1 pyver glibc_minor
  case "$suite" in
    bookworm) pyver=3.11; glibc_minor=36 ;;
    trixie) pyver=3.13; glibc_minor=41 ;;
    *) fail "unknown suite $suite (bookworm or trixie)" ;;
  esac
  local root="$WORK/$suite-root" site="$WORK/$suite-site" wheels="$WORK/$suite-wheels"
  local abi="cp${pyver/./}"

  # What Raspberry Pi OS Lite has and manylinux wheels expect from the system: glibc, libstdc++, libgcc, zlib.
  local include="python3,python3-minimal,libpython${pyver}-stdlib,libstdc++6,libgcc-s1,zlib1g,ca-certificates"
  if [ "$(cat "$root/.jemput-complete" 2>/dev/null)" != "$include" ]; then
    say "$suite: building the arm64 userland (mmdebstrap --variant=extract)"
    rm -rf "$root"
    local mode=root
    [ "$(id -u)" -eq 0 ] || mode=unshare
    mmdebstrap --quiet --variant=extract --architectures=arm64 --mode="$mode" \
      --include="$include" \
      "$suite" "$root" "$MIRROR" || fail "$suite: mmdebstrap failed"
    # Device nodes made inside the userland are not the host's devpts: pseudo-terminals opened through them fail
    # (ENODEV). qemu -L looks in ROOT first, so without ROOT/dev it uses the host's /dev, as a booted Pi would.
    rm -rf "$root/dev"
    # Merged /usr (both releases, and Raspberry Pi OS): the extract variant installs no base-files on Trixie,
    # so the /lib -> usr/lib links the dynamic loader path needs are made here.
    for d in bin sbin lib; do [ -e "$root/$d" ] || ln -s "usr/$d" "$root/$d"; done
    echo "$include" >"$root/.jemput-complete"
  fi
  local py="$root/usr/bin/python$pyver"
  [ -e "$py" ] || fail "$suite: $py missing from the userland"

  say "$suite: aarch64 wheels for Python $pyver (glibc 2.$glibc_minor)"
  local platforms=(--platform manylinux2014_aarch64)
  for m in $(seq 17 "$glibc_minor"); do platforms+=(--platform "manylinux_2_${m}_aarch64"); done
  local pipargs=(--only-binary=:all: "${platforms[@]}" --implementation cp --python-version "$pyver"
                 --abi "$abi" --abi abi3 --abi none)
  mkdir -p "$wheels"
  local req bad=()
  # One resolution for everything (fast); only when it fails, one per requirement, to name the culprit.
  if ! "$HOST_PY" -m pip download -q --disable-pip-version-check --dest "$wheels" "${pipargs[@]}" \
      "${RUNTIME_REQS[@]}" "${TEST_REQS[@]}" >"$wheels/all.log" 2>&1; then
    for req in "${RUNTIME_REQS[@]}" "${TEST_REQS[@]}"; do
      if ! "$HOST_PY" -m pip download -q --disable-pip-version-check --dest "$wheels" "${pipargs[@]}" "$req" \
          >"$wheels/last.log" 2>&1; then
        bad+=("$req")
        grep -E "ERROR|No matching" "$wheels/last.log" | head -3 >&2 || true
      fi
    done
    [ ${#bad[@]} -gt 0 ] || { cat "$wheels/all.log" >&2; bad=("(together; see above)"); }
  fi
  [ ${#bad[@]} -eq 0 ] || fail "$suite: no aarch64 wheel (Python $pyver) for: ${bad[*]}"
  rm -rf "$site"
  "$HOST_PY" -m pip install -q --disable-pip-version-check --no-index --find-links "$wheels" --target "$site" \
    "${pipargs[@]}" "${RUNTIME_REQS[@]}" "${TEST_REQS[@]}" >"$wheels/install.log" 2>&1 \
    || { cat "$wheels/install.log" >&2; fail "$suite: installing the aarch64 wheels failed"; }
  "$HOST_PY" -m pip install -q --disable-pip-version-check --no-deps --target "$site" "$PROJECT_WHEEL" \
    >>"$wheels/install.log" 2>&1 || fail "$suite: installing the project wheel failed"

}

run_suite() {
  local suite=$1 pyver glibc_minor
  case "$suite" in
    bookworm) pyver=3.11; glibc_minor=36 ;;
    trixie) pyver=3.13; glibc_minor=41 ;;
    *) fail "unknown suite $suite (bookworm or trixie)" ;;
  esac
  local root="$WORK/$suite-root" site="$WORK/$suite-site" wheels="$WORK/$suite-wheels"
  local abi="cp${pyver/./}"

  local py="$root/usr/bin/python$pyver"

  # The Pi 4's core. qemu's default "max" CPU emulates pointer authentication with the slow QARMA cipher, and
  # Trixie's arm64 builds use it in every function (branch protection): ten times slower for nothing.
  local -a arm=(env PYTHONPATH="$site" HOME="$WORK" QEMU_CPU="${ARM64_CHECK_CPU:-cortex-a72}"
                qemu-aarch64-static -L "$root" "$py")

  rm -rf "$root/dev"
  say "$suite: importing every module under qemu-aarch64 (from the installed wheel)"
  (cd "$WORK" && "${arm[@]}" - <<'EOF') || fail "$suite: imports failed"
import importlib, pkgutil, platform, sys, time
assert platform.machine() == "aarch64", platform.machine()
t0 = time.monotonic()
import cv2, cryptography, numpy, pyrage  # noqa: E401,F401 - the heavy native wheels
print(f"  {platform.machine()} Python {platform.python_version()}: cv2 {cv2.__version__}, numpy {numpy.__version__},"
      f" cryptography {cryptography.__version__} imported in {time.monotonic() - t0:.1f} s")
failed, count = [], 0
for top in ("station", "device_drivers", "ui", "office", "provisioning"):
    pkg = importlib.import_module(top)
    names = [top] + [m.name for m in pkgutil.walk_packages(pkg.__path__, top + ".")]
    for name in names:
        count += 1
        try:
            importlib.import_module(name)
        except Exception as exc:  # noqa: BLE001 - report every failing module, not just the first
            failed.append(f"{name}: {type(exc).__name__}: {exc}")
print(f"  {count} modules imported in {time.monotonic() - t0:.1f} s")
if failed:
    print("\n".join("  FAILED " + f for f in failed), file=sys.stderr)
    sys.exit(1)
EOF

  say "$suite: protocol, packet and NIK unit tests under qemu-aarch64"
  (cd "$REPO" && "${arm[@]}" -m pytest -q -p no:cacheprovider -o addopts="" --import-mode=importlib --timeout=300 \
     tests/packets tests/fingerprint/test_protocol.py tests/devices/test_topaz_protocol.py \
     tests/station_data/test_nik.py tests/station_data/test_wilayah.py) || fail "$suite: unit tests failed"

  say "$suite: station run --simulate smoke under qemu-aarch64"
  local smoke="$WORK/$suite-smoke" port
  rm -rf "$smoke"; mkdir -p "$smoke"
  port=$("$HOST_PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  cat >"$smoke/station.toml" <<EOF
[station]
id = "arm64-smoke"
district = "6106"
data_dir = "$smoke/data"
[ui]
port = $port
EOF
  cd "$smoke"
  "${arm[@]}" -m station.cli station init --config "$smoke/station.toml" >"$smoke/init.log" 2>&1 \
    || { cat "$smoke/init.log" >&2; fail "$suite: station init failed"; }
  "${arm[@]}" -m station.cli station run --config "$smoke/station.toml" --simulate >"$smoke/run.log" 2>&1 &
  local pid=$! ok="" i
  for i in $(seq 1 240); do
    if "$HOST_PY" - "$port" <<'EOF' 2>/dev/null; then ok=1; break; fi
import json, sys, urllib.request
body = json.load(urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/healthz", timeout=2))
sys.exit(0 if body.get("ok") and body.get("station") == "arm64-smoke" else 1)
EOF
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.5
  done
  kill -TERM "$pid" 2>/dev/null || true
  local rc=0
  wait "$pid" || rc=$?
  if [ -z "$ok" ]; then tail -30 "$smoke/run.log" >&2; fail "$suite: the kiosk health endpoint never answered"; fi
  [ "$rc" -eq 0 ] || { tail -30 "$smoke/run.log" >&2; fail "$suite: station run exited $rc after SIGTERM"; }
  cd "$REPO"
  say "$suite: OK (health endpoint answered after $((i / 2)) s; clean exit on SIGTERM)"
}

# Downloads (userlands, wheels) for all releases at once: they wait on the network, not on the CPU.
pids=()
for suite in "${SUITES[@]}"; do
  prepare_suite "$suite" >"$WORK/$suite-prepare.log" 2>&1 &
  pids+=($!)
done
for i in "${!pids[@]}"; do
  rc=0
  wait "${pids[$i]}" || rc=$?
  cat "$WORK/${SUITES[$i]}-prepare.log"
  [ "$rc" -eq 0 ] || fail "${SUITES[$i]}: preparing the userland and wheels failed (above)"
done
for suite in "${SUITES[@]}"; do
  run_suite "$suite"
done
