#!/usr/bin/env bash
# Build the wheel into OUTDIR (default dist/) and print its path.
#
#   scripts/build-wheel.sh [OUTDIR]
#
# Built from a copy of the files git knows (tracked, or new and not ignored),
# so a stale build/ directory or a local instance/ never ends up in it.
# setup.py copies templates/, static/, migrations/ and deploy/ into the
# wheel as piranha_web/_data.  With setuptools and wheel importable by the
# build python (the test extra has both) no build environment is fetched.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=$(realpath -m "${1:-dist}")
PY=${PIRANHA_BUILD_PYTHON:-$PWD/.venv/bin/python}
[ -x "$PY" ] || PY=python3
SRC=$(mktemp -d /tmp/piranha-wheel.XXXXXXXX)
trap 'rm -rf "$SRC"' EXIT
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    git ls-files -z --cached --others --exclude-standard | xargs -0 cp --parents -t "$SRC"
else
    cp -a . "$SRC"
fi
isolation=()
"$PY" -c 'import setuptools, wheel' 2>/dev/null && isolation=(--no-build-isolation)
mkdir -p "$OUT"
"$PY" -m pip wheel -q --no-deps "${isolation[@]}" -w "$OUT" "$SRC" >&2
VERSION=$(sed -n 's/^__version__ = "\(.*\)"/\1/p' piranha_web/__init__.py)
ls "$OUT"/piranha_web-"$VERSION"-py3-none-any.whl
