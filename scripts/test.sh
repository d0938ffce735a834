#!/usr/bin/env bash
# Set up everything the test suite needs, then run all of it:
#   1. system packages (when root): chromium for the browser tests, ipvsadm,
#      nftables, iptables, iproute2, keepalived (export check);
#   2. a virtualenv in .venv with the project and its test extra;
#   3. the host suite (everything not marked `ipvs`);
#   4. the real-IPVS suite (tests/ipvs, tests/e2e): directly when this kernel
#      has IPVS and we are root, else inside scripts/ipvs-kernel (a guest
#      kernel fetched with apt; see that script).
# Extra arguments go to both pytest runs (e.g. -x, -k NAME).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
SYSTEM_PACKAGES=(chromium ipvsadm nftables iptables iproute2 kmod keepalived bird2 systemd procps python3-venv
                 dpkg-dev lintian man-db groff-base python3-markupsafe python3-argon2 python3-cffi-backend python3-cryptography
                 gcc libssl-dev openssl)

install_system_packages() {
    local missing=()
    for p in "${SYSTEM_PACKAGES[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing+=("$p")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    echo "test.sh: apt-get install ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    install_system_packages
else
    echo "test.sh: not root: assuming ${SYSTEM_PACKAGES[*]} are installed"
fi

[ -x .venv/bin/python ] || python3 -m venv .venv
pip_install() {  # pip's build chatter goes to a log, shown only when it fails
    local log=.venv/pip-install.log
    if ! .venv/bin/python -m pip install -q "$@" >"$log" 2>&1; then cat "$log" >&2; return 1; fi
}
pip_install --upgrade pip
pip_install -e '.[test]'

# In CI nothing may be skipped for lack of a dependency (see conftest.py).
if [ -n "${CI:-}" ]; then export PIRANHA_NO_SKIP=1; fi

echo "== host suite =="
.venv/bin/python -m pytest -m "not ipvs" --durations=10 "$@"

echo "== real-IPVS suite =="
IPVS_TESTS=(tests/ipvs tests/e2e)
if [ "$(id -u)" = 0 ] && { [ -e /proc/net/ip_vs ] || modprobe ip_vs 2>/dev/null; } && [ -e /proc/net/ip_vs ]; then
    .venv/bin/python -m pytest -m ipvs --durations=15 "${IPVS_TESTS[@]}" "$@"
elif [ "$(id -u)" = 0 ]; then
    scripts/ipvs-kernel --timeout 3000 --mem 2G -- \
        .venv/bin/python -m pytest -m ipvs -p no:cacheprovider --durations=15 "${IPVS_TESTS[@]}" "$@"
else
    echo "test.sh: the real-IPVS suite needs root (scripts/ipvs-kernel boots a guest kernel): NOT run" >&2
    [ -z "${CI:-}" ] || exit 1
fi
