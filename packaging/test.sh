#!/usr/bin/env bash
# The Debian package's test: builds the package with packaging/deb.sh from
# the dev-profile binary, unpacks it into a scratch root and checks what an
# installation gets: the files, the conffile, the maintainer scripts, the
# keepup user (made by systemd-sysusers in the scratch root, as the
# postinst does), the unit (systemd-analyze verify), the debug info split
# off into the -dbgsym package, and that the installed binary validates the
# installed default configuration and prints the installed man page.
# scripts/test.sh passes --no-build: its cargo test built the binary, and a
# `cargo build -p keepup` could unify features differently and rebuild.
#
#   bash packaging/test.sh [--no-build]
set -euo pipefail
cd "$(dirname "$0")/.."

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
passed=0
fail() {
  echo "packaging/test.sh: FAILED: $*" >&2
  echo "package: $passed passed, 1 failed"
  exit 1
}
ok() {
  echo "ok: $*"
  passed=$((passed + 1))
}

bash packaging/deb.sh --profile dev --fast --output "$work" "$@" >"$work/build.log" 2>&1 \
  || { cat "$work/build.log" >&2; fail "packaging/deb.sh"; }
debs=("$work"/keepup_*.deb)
ddebs=("$work"/keepup-dbgsym_*.ddeb)
[ -f "${debs[0]}" ] || fail "no keepup_*.deb in $work: $(ls "$work")"
[ -f "${ddebs[0]}" ] || fail "no keepup-dbgsym_*.ddeb in $work: $(ls "$work")"
root=$work/root
dpkg-deb -x "${debs[0]}" "$root"
dpkg-deb -e "${debs[0]}" "$work/control"
dpkg-deb -x "${ddebs[0]}" "$work/dbgsym"
ok "built and unpacked $(basename "${debs[0]}") and $(basename "${ddebs[0]}")"

unit=$(find "$root" -name keepup.service -path '*/systemd/system/*')
for f in usr/bin/keepup etc/keepup/keepup.toml usr/lib/sysusers.d/keepup.conf \
  usr/share/man/man1/keepup.1.gz usr/share/man/man1/keepup-run.1.gz; do
  [ -f "$root/$f" ] || fail "/$f is not in the package"
done
[ -n "$unit" ] || fail "keepup.service is not in the package"
ok "binary, unit, sysusers.d entry, default configuration and man pages are installed"

grep -qx /etc/keepup/keepup.toml "$work/control/conffiles" \
  || fail "/etc/keepup/keepup.toml is not a conffile: $(cat "$work/control/conffiles" 2>&1)"
ok "the default configuration is a conffile"

for script in postinst prerm postrm; do
  [ -f "$work/control/$script" ] || fail "no $script"
  sh -n "$work/control/$script" || fail "$script is not valid sh"
done
grep -q 'systemd-sysusers.*keepup.conf' "$work/control/postinst" || fail "postinst does not create the keepup user"
grep -q 'deb-systemd-helper.*keepup.service' "$work/control/postinst" || fail "postinst does not enable keepup.service"
ok "maintainer scripts create the user and enable the unit"

# What the postinst runs, in the scratch root: the keepup system user, its
# home the state directory, no login shell.
systemd-sysusers --root="$root" keepup.conf
user=$(grep '^keepup:' "$root/etc/passwd") || fail "systemd-sysusers made no keepup user"
IFS=: read -r _ _ uid _ _ home shell <<<"$user"
[ "$uid" -lt 1000 ] && [ "$home" = /var/lib/keepup ] && [ "${shell##*/}" = nologin ] \
  || fail "keepup user is not a system user with home /var/lib/keepup: $user"
ok "sysusers.d makes the system user keepup ($user)"

# The unit as installed, hardening included. systemd-analyze verify checks
# it on this machine's systemd (sysinit.target, /bin/kill) with the
# scratch root's binary, configuration and man page put in.
for want in 'User=keepup' 'StateDirectory=keepup' 'ConfigurationDirectory=keepup' \
  'ProtectSystem=strict' 'NoNewPrivileges=yes' 'AmbientCapabilities=CAP_NET_RAW' \
  'ExecReload=/bin/kill -HUP $MAINPID'; do
  grep -qxF "$want" "$unit" || fail "keepup.service lacks $want"
done
sed -e "s|^ExecStart=/usr/bin/keepup |ExecStart=$root/usr/bin/keepup |" \
  -e "s| /etc/keepup/keepup.toml\$| $root/etc/keepup/keepup.toml|" "$unit" >"$work/keepup.service"
grep -q "^ExecStart=$root/usr/bin/keepup run --config $root/etc/keepup/keepup.toml\$" "$work/keepup.service" \
  || fail "unexpected ExecStart: $(grep ^ExecStart= "$unit")"
MANPATH=$root/usr/share/man systemd-analyze verify "$work/keepup.service" >"$work/verify.log" 2>&1 \
  || { cat "$work/verify.log" >&2; fail "systemd-analyze verify rejects keepup.service"; }
[ ! -s "$work/verify.log" ] || { cat "$work/verify.log" >&2; fail "systemd-analyze verify warns"; }
ok "systemd-analyze verify accepts keepup.service"

# The sandbox as systemd rates it (0 safe .. 10 unsafe, without hardening
# about 9.6): at most 3.0, so hardening does not get lost on the way.
systemd-analyze security --offline=true --threshold=30 "$work/keepup.service" >"$work/security.log" 2>&1 \
  || { cat "$work/security.log" >&2; fail "keepup.service is exposed"; }
ok "$(grep -o 'Overall exposure level.*' "$work/security.log")"

# ExecStart's binary and configuration are the installed ones.
exec_start=$(sed -n 's/^ExecStart=//p' "$unit")
read -r bin _ _ config <<<"$exec_start"
[ "$bin" = /usr/bin/keepup ] && [ "$config" = /etc/keepup/keepup.toml ] \
  || fail "ExecStart runs something else: $exec_start"
"$root$bin" validate --config "$root$config" >"$work/validate.log" 2>&1 \
  || { cat "$work/validate.log" >&2; fail "the installed binary rejects the installed configuration"; }
ok "the installed binary validates the installed configuration: $(cat "$work/validate.log")"

"$root/usr/bin/keepup" man >"$work/keepup.1"
grep -q '^\.TH keepup 1' "$work/keepup.1" || fail "keepup man printed no page"
zcat "$root/usr/share/man/man1/keepup.1.gz" | cmp -s - "$work/keepup.1" \
  || fail "the installed keepup.1 is not what the installed binary prints"
ok "the installed man page is the installed binary's"

# The shipped binary has no debug info; its build id names the debug file
# in the -dbgsym package, which holds the line tables.
sections=$(readelf -S --wide "$root/usr/bin/keepup")
! grep -qE '\.debug_(info|line|str|abbrev|ranges|rnglists|loc|loclists|aranges) ' <<<"$sections" \
  || fail "usr/bin/keepup still carries debug info"
build_id=$(readelf -n "$root/usr/bin/keepup" | sed -n 's/.*Build ID: //p')
[ -n "$build_id" ] || fail "usr/bin/keepup has no build id"
debug_file=$work/dbgsym/usr/lib/debug/.build-id/${build_id:0:2}/${build_id:2}.debug
[ -f "$debug_file" ] || fail "no $debug_file in the -dbgsym package: $(find "$work/dbgsym" -type f)"
# (a debug file has no program interpreter, which readelf remarks on)
readelf -S --wide "$debug_file" 2>/dev/null | grep -q '\.debug_line' || fail "the debug file has no line tables"
ok "debug info is split off into the -dbgsym package ($(du -h "$root/usr/bin/keepup" | cut -f1) binary, $(du -h "$debug_file" | cut -f1) debug file)"

echo "package: $passed passed, 0 failed"
