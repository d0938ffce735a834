#!/usr/bin/env bash
# Set up and run piranha-web on the embedded default: the console on
# 127.0.0.1:3636 and pulse, with the SQLite database, lvs.cf and pulse's
# runtime files under instance/.  pulse programs IPVS when root on a kernel
# with IPVS, and otherwise runs its dry-run backend (it says so).
# Ctrl-C stops both.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

if [ ! -x .venv/bin/python ]; then
    if ! python3 -c 'import ensurepip, venv' 2>/dev/null; then
        if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
            apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null
        else
            echo "scripts/run.sh: python3's venv module is missing: apt-get install python3-venv (as root)" >&2
            exit 1
        fi
    fi
    python3 -m venv .venv
fi
pip_install() {  # pip's build chatter goes to a log, shown only when it fails
    local log=.venv/pip-install.log
    if ! .venv/bin/python -m pip install -q "$@" >"$log" 2>&1; then cat "$log" >&2; return 1; fi
}
pip_install --upgrade pip
pip_install -e .

export PIRANHA_INSTANCE="${PIRANHA_INSTANCE:-$ROOT/instance}"
export PIRANHA_LVS_CF="${PIRANHA_LVS_CF:-$PIRANHA_INSTANCE/lvs.cf}"
mkdir -p "$PIRANHA_INSTANCE"

if [ ! -e "$PIRANHA_LVS_CF" ]; then
    # A fresh director: an empty but valid configuration for pulse to watch.
    printf 'serial_no = 0\nservice = lvs\nnetwork = nat\n' > "$PIRANHA_LVS_CF"
fi

# piranha-gui refuses to start without a password; with a terminal it asks
# for one (as piranha-passwd would), without one it names the command to run.
if ! .venv/bin/piranha-gui --prepare-only; then
    echo "scripts/run.sh: set the console password with  $ROOT/.venv/bin/piranha-passwd  and run me again" >&2
    exit 1
fi
.venv/bin/pulse -n -c "$PIRANHA_LVS_CF" --backend auto &
PULSE=$!
trap 'kill -TERM $PULSE 2>/dev/null; wait $PULSE 2>/dev/null || true' EXIT INT TERM
.venv/bin/piranha-gui --bind "${PIRANHA_BIND:-127.0.0.1:3636}"
