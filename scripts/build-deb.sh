#!/usr/bin/env bash
# Build dist/piranha-web_<version>_all.deb with dpkg-deb (no debhelper).
#
#   scripts/build-deb.sh [OUTDIR]
#
# What goes in:
#   /opt/piranha-web          a virtualenv on Debian's /usr/bin/python3 holding
#                             the project's wheel and the pinned pure-Python
#                             dependencies of packaging/debian/requirements.txt;
#                             the compiled ones (MarkupSafe, argon2-cffi, cffi,
#                             cryptography)
#                             are Debian packages it sees through
#                             --system-site-packages, so the package really
#                             is Architecture: all
#   /usr/sbin/*               links to the four programs
#   /lib/systemd/system/      pulse.service, piranha-gui.service (programs in
#                             /opt/piranha-web/bin)
#   /etc/sysconfig/ha/        lvs.cf's directory (owned by piranha after postinst)
#   /usr/share/man/           pulse(8), piranha-gui(8), piranha-passwd(8),
#                             piranha-config(8), lvs.cf(5)
#   /usr/share/doc/piranha-web/  copyright, changelog, operations guide, examples
# postinst creates the piranha system user and /var/lib/piranha and starts
# nothing (the console refuses to run before piranha-passwd anyway).
#
# Offline: the build installs with `pip --no-index` from a wheelhouse
# ($PIRANHA_WHEELHOUSE, default build/wheelhouse).  Only when a pinned wheel is
# missing there is it fetched once with `pip download`; PIRANHA_DEB_OFFLINE=1
# makes a missing wheel an error instead.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
OUT=$(realpath -m "${1:-dist}")
PY=/usr/bin/python3                  # the venv must run on Debian's interpreter
BUILD_PY=${PIRANHA_BUILD_PYTHON:-$ROOT/.venv/bin/python}
[ -x "$BUILD_PY" ] || BUILD_PY=$PY
WHEELHOUSE=$(realpath -m "${PIRANHA_WHEELHOUSE:-build/wheelhouse}")
REQUIREMENTS=packaging/debian/requirements.txt
PREFIX=/opt/piranha-web
PROGRAMS=(pulse piranha-gui piranha-passwd piranha-config)

VERSION=$(sed -n 's/^__version__ = "\(.*\)"/\1/p' piranha_web/__init__.py)
[ -n "$VERSION" ] || { echo "build-deb: no __version__ in piranha_web/__init__.py" >&2; exit 1; }
PY_MINOR=$($PY -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')

WORK=$(mktemp -d /tmp/piranha-deb.XXXXXXXX)
trap 'rm -rf "$WORK"' EXIT
STAGE=$WORK/root
mkdir -p "$STAGE" "$OUT" "$WHEELHOUSE"

say() { echo "build-deb: $*" >&2; }

build_wheel() {
    say "wheel"
    scripts/build-wheel.sh "$WORK/wheel" >/dev/null
}

fill_wheelhouse() {
    local missing
    missing=$("$BUILD_PY" - "$REQUIREMENTS" "$WHEELHOUSE" <<'EOF'
import re, sys
from pathlib import Path
def key(name, version):
    return re.sub(r"[-_.]+", "_", name).lower() + "==" + version
have = {key(*p.name.split("-")[:2]) for p in Path(sys.argv[2]).glob("*.whl")}
for line in Path(sys.argv[1]).read_text().splitlines():
    line = line.split("#")[0].strip()
    if line and key(*line.split("==")) not in have:
        print(line)
EOF
)
    [ -z "$missing" ] && return 0
    [ "${PIRANHA_DEB_OFFLINE:-0}" != 1 ] || { say "missing in $WHEELHOUSE: $missing"; exit 1; }
    say "fetching into $WHEELHOUSE:" $missing
    # shellcheck disable=SC2086
    "$BUILD_PY" -m pip download -q --no-deps --only-binary=:all: --platform any --implementation py \
        --abi none --python-version "$PY_MINOR" -d "$WHEELHOUSE" $missing >&2
}

build_venv() {
    say "virtualenv in $PREFIX"
    local venv=$STAGE$PREFIX
    $PY -m venv --system-site-packages "$venv"
    "$venv/bin/python" -m pip install -q --no-index --no-deps --find-links "$WHEELHOUSE" \
        -r "$REQUIREMENTS" "$WORK"/wheel/piranha_web-*.whl >&2
    "$venv/bin/python" -m pip uninstall -q -y pip setuptools >&2
    find "$venv" -name __pycache__ -type d -prune -exec rm -rf {} +   # postinst compiles
    rm -f "$venv"/bin/activate* "$venv"/bin/Activate.ps1                # not for a service
    # The scripts name the staging interpreter: point them at the installed one.
    grep -rlI --null "$STAGE" "$venv" | xargs -0 -r sed -i "s|$STAGE||g"
    if grep -rlI "$STAGE" "$venv"; then say "staging path left in the venv"; exit 1; fi
    if find "$venv" -name '*.so*' | grep -q .; then
        say "compiled code in the venv: not Architecture all"; find "$venv" -name '*.so*' >&2; exit 1
    fi
}

install_files() {
    say "units, man pages, docs"
    local doc=$STAGE/usr/share/doc/piranha-web p unit
    install -d "$STAGE/usr/sbin" "$STAGE/lib/systemd/system" "$STAGE/etc/sysconfig/ha" \
        "$STAGE/usr/share/man/man5" "$STAGE/usr/share/man/man8" "$doc/examples"
    for p in "${PROGRAMS[@]}"; do ln -s "$PREFIX/bin/$p" "$STAGE/usr/sbin/$p"; done
    for unit in deploy/systemd/*.service; do
        sed "s|/usr/local/bin/|$PREFIX/bin/|g" "$unit" > "$STAGE/lib/systemd/system/${unit##*/}"
        chmod 644 "$STAGE/lib/systemd/system/${unit##*/}"
    done
    for p in man/*.[58]; do
        gzip -9n < "$p" > "$STAGE/usr/share/man/man${p##*.}/${p##*/}.gz"
    done
    install -m 644 packaging/debian/copyright "$doc/copyright"
    install -D -m 644 packaging/debian/lintian-overrides "$STAGE/usr/share/lintian/overrides/piranha-web"
    install -m 644 docs/operations.md docs/lvs.cf.md docs/keepalived.md "$doc/"
    install -m 644 deploy/examples/lvs.cf deploy/examples/keepalived.conf "$doc/examples/"
    printf 'piranha-web (%s) unstable; urgency=medium\n\n  * Release %s.\n\n -- %s  %s\n' \
        "$VERSION" "$VERSION" "piranha-web developers <piranha-web@example.org>" \
        "$(date -R -d "@${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || date +%s)}")" |
        gzip -9n > "$doc/changelog.gz"
}

control_files() {
    local ctl=$STAGE/DEBIAN size
    install -d "$ctl"
    size=$(du -sk --exclude=DEBIAN "$STAGE" | cut -f1)
    sed -e "s/@VERSION@/$VERSION/" -e "s/@SIZE@/$size/" packaging/debian/control > "$ctl/control"
    install -m 755 packaging/debian/postinst packaging/debian/prerm packaging/debian/postrm "$ctl/"
    (cd "$STAGE" && find . -path ./DEBIAN -prune -o -type f -print0 | sort -z |
        xargs -0 md5sum | sed 's|  \./|  |') > "$ctl/md5sums"
    chmod 644 "$ctl/control" "$ctl/md5sums"
}

build_wheel
fill_wheelhouse
build_venv
install_files
control_files
find "$STAGE" -type d -exec chmod 755 {} +
DEB=$OUT/piranha-web_${VERSION}_all.deb
dpkg-deb --root-owner-group -Zxz --build "$STAGE" "$DEB" >&2
echo "$DEB"
