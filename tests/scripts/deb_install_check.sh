#!/usr/bin/env bash
# Installs the Debian package with dpkg, as a school's technician would, and
# runs the demo from the installed path; then upgrades in place (the key must
# survive) and purges (the key and records must survive that too).
#
#   tests/scripts/deb_install_check.sh [BINARY]   # default target/debug/edusync
#
# Needs root and dpkg. Under CI=true a missing requirement fails the check;
# elsewhere it is reported and the check is skipped (it changes the system).
set -euo pipefail
cd "$(dirname "$0")/../.."
binary="${1:-target/debug/edusync}"

unmet=""
[ "$(id -u)" = 0 ] || unmet="root (it installs a package)"
command -v dpkg >/dev/null || unmet="dpkg"
if [ -n "$unmet" ]; then
    if [ "${CI:-}" = true ]; then echo "deb install check: needs $unmet" >&2; exit 1; fi
    echo "deb install check: SKIPPED, needs $unmet"; exit 0
fi
if dpkg -s edusync >/dev/null 2>&1 || [ -e /var/lib/edusync ] || [ -e /etc/edusync ]; then
    echo "deb install check: this machine already has an edusync install; run the check on a clean one" >&2
    exit 1
fi

work=$(mktemp -d)
cleanup() {
    dpkg --purge edusync >/dev/null 2>&1 || true
    rm -rf /var/lib/edusync /etc/edusync "$work"
    userdel edusync 2>/dev/null || true
}
trap cleanup EXIT
fail() { echo "deb install check: $*" >&2; exit 1; }

deb=$(crates/edusync-cli/debian/build-deb --binary "$binary" --out "$work" --fast)
echo "== built $deb"
dpkg-deb --info "$deb" | sed -n '/Depends/p'
# As a minimal system (a container, Ubuntu minimal) installs it: without /usr/share/doc.
dpkg --path-exclude='/usr/share/doc/*' -i "$deb"
[ ! -e /usr/share/doc/edusync/examples ] || fail "the docs were installed although excluded"

[ "$(command -v edusync)" = /usr/bin/edusync ] || fail "edusync is not /usr/bin/edusync on the PATH"
[ "$(stat -c '%U %a' /var/lib/edusync/node.key)" = "edusync 600" ] || fail "node.key is not the edusync user's, mode 600"
[ "$(stat -c '%U %a' /var/lib/edusync)" = "edusync 700" ] || fail "/var/lib/edusync is not the edusync user's, mode 700"
grep -q '^data_dir = "/var/lib/edusync"$' /etc/edusync/node.toml || fail "node.toml does not keep its data in /var/lib/edusync"
unit=/lib/systemd/system/edusync-node.service
grep -q '^ExecStart=/usr/bin/edusync node run --config /etc/edusync/node.toml$' "$unit" || fail "the unit does not start /usr/bin/edusync"
grep -q '^LimitNOFILE=' "$unit" || fail "the unit sets no LimitNOFILE"
grep -q '^User=edusync$' "$unit" || fail "the unit does not run as edusync"
if command -v systemd-analyze >/dev/null; then systemd-analyze verify "$unit"; fi

echo "== edusync demo, from the installed path, as the edusync user"
runuser -u edusync -- /usr/bin/edusync demo --json > "$work/demo.json"
python3 - "$work/demo.json" <<'PY'
import json, sys
demo = json.load(open(sys.argv[1]))
verification = demo["verification"]
assert demo["converged"], "the demo hierarchy did not converge"
assert verification["verified"] and not verification["problems"], verification
assert verification["ministry_incident_cases"] == verification["schools_incident_cases"] > 0, verification
print(f"demo: {demo['records_written']} records, ministry cases {verification['ministry_incident_cases']} verified down to the schools")
PY

key_before=$(sha256sum /var/lib/edusync/node.key)
echo "== reinstall over itself: the key and the config stay"
echo '# the operator was here' >> /etc/edusync/node.toml
dpkg -i "$deb" >/dev/null
[ "$(sha256sum /var/lib/edusync/node.key)" = "$key_before" ] || fail "reinstalling replaced the node's key"
grep -q 'the operator was here' /etc/edusync/node.toml || fail "reinstalling replaced the operator's config"

echo "== purge: the binary and config go, the key and records stay"
dpkg --purge edusync
[ ! -e /usr/bin/edusync ] || fail "/usr/bin/edusync is still there after purge"
[ ! -e /etc/edusync/node.toml ] || fail "/etc/edusync/node.toml is still there after purge"
[ "$(sha256sum /var/lib/edusync/node.key)" = "$key_before" ] || fail "purge removed or changed the node's key"
echo "deb install check: passed"
