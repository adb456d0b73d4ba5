#!/usr/bin/env bash
# The Debian package's test: builds the packages with packaging/deb.sh from
# the dev-profile binary and installs them with dpkg into a scratch root
# (maintainer scripts included), then checks what an installation gets: the
# files, the keepup user and the enabled unit from the postinst, the unit
# (systemd-analyze verify and security), the installed binary validating
# the installed default configuration and printing the installed man page,
# the debug info split off into the -dbgsym package, and the configuration
# kept as a conffile through reinstall and removal, gone with purge.
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
ok "built $(basename "${debs[0]}") and $(basename "${ddebs[0]}")"

# dpkg installs both into an empty root of its own and runs the maintainer
# scripts outside it with DPKG_ROOT set, as for a bootstrap; the root has
# no libc6 or systemd package, hence --force-depends.
root=$work/root
mkdir -p "$root/var/lib/dpkg/info" "$root/var/lib/dpkg/updates" "$root/etc"
touch "$root/var/lib/dpkg/status"
dpkg_root() {
  dpkg --root="$root" --force-script-chrootless --force-depends --log=/dev/null "$@" \
    >>"$work/dpkg.log" 2>&1 || { cat "$work/dpkg.log" >&2; fail "dpkg $*"; }
}
dpkg_root -i "${debs[0]}" "${ddebs[0]}"
ok "dpkg installs both packages"

unit=$root/usr/lib/systemd/system/keepup.service
for f in usr/bin/keepup etc/keepup/keepup.toml usr/lib/sysusers.d/keepup.conf \
  usr/lib/systemd/system/keepup.service \
  usr/share/man/man1/keepup.1.gz usr/share/man/man1/keepup-run.1.gz; do
  [ -f "$root/$f" ] || fail "/$f is not installed"
done
ok "binary, unit, sysusers.d entry, default configuration and man pages are installed"

# The postinst: the keepup system user, its home the state directory, no
# login shell (systemd-sysusers); the unit enabled (deb-systemd-helper).
user=$(grep '^keepup:' "$root/etc/passwd") || fail "the postinst made no keepup user"
IFS=: read -r _ _ uid _ _ home shell <<<"$user"
[ "$uid" -lt 1000 ] && [ "$home" = /var/lib/keepup ] && [ "${shell##*/}" = nologin ] \
  || fail "keepup user is not a system user with home /var/lib/keepup: $user"
[ -L "$root/etc/systemd/system/multi-user.target.wants/keepup.service" ] \
  || fail "the postinst did not enable keepup.service"
ok "the postinst makes the system user ($user) and enables keepup.service"

# The unit as installed, hardening included. systemd-analyze verify checks
# it on this machine's systemd (sysinit.target, /bin/kill) with the
# scratch root's binary, configuration and man page put in.
for want in 'User=keepup' 'StateDirectory=keepup' 'ConfigurationDirectory=keepup' \
  'ProtectSystem=strict' 'NoNewPrivileges=yes' 'AmbientCapabilities=CAP_NET_RAW' \
  'ExecReload=/bin/kill -HUP $MAINPID'; do
  grep -qxF "$want" "$unit" || fail "keepup.service lacks $want"
done
# A scheduled drill's local restore needs its files_root writable: the
# unit says how, without opening the file system.
grep -q '^# .*files_root.*' "$unit" && grep -q '^# .*ReadWritePaths=/srv/drill' "$unit" \
  || fail "keepup.service does not say how to let scheduled drills write their files_root"
if grep -q '^ReadWritePaths=' "$unit"; then
  fail "keepup.service opens paths for writing by default"
fi
sed -e "s|^ExecStart=/usr/bin/keepup |ExecStart=$root/usr/bin/keepup |" \
  -e "s| /etc/keepup/keepup.toml\$| $root/etc/keepup/keepup.toml|" "$unit" >"$work/keepup.service"
grep -q "^ExecStart=$root/usr/bin/keepup run --config $root/etc/keepup/keepup.toml\$" "$work/keepup.service" \
  || fail "unexpected ExecStart: $(grep ^ExecStart= "$unit")"
MANPATH=$root/usr/share/man systemd-analyze verify "$work/keepup.service" >"$work/verify.log" 2>&1 \
  || { cat "$work/verify.log" >&2; fail "systemd-analyze verify rejects keepup.service"; }
[ ! -s "$work/verify.log" ] || { cat "$work/verify.log" >&2; fail "systemd-analyze verify warns"; }
ok "systemd-analyze verify accepts keepup.service"

# The agent's unit: installed, not enabled, checked the same way; its
# sandbox keeps the host's mounts in view (no ProtectSystem=).
agent_unit=$root/usr/lib/systemd/system/keepup-agent.service
[ -f "$agent_unit" ] || fail "keepup-agent.service is not installed"
[ ! -e "$root/etc/systemd/system/multi-user.target.wants/keepup-agent.service" ] \
  || fail "keepup-agent.service is enabled before it has a token"
! grep -q '^ProtectSystem=\|^PrivateTmp=\|^DynamicUser=' "$agent_unit" \
  || fail "keepup-agent.service hides the host's mounts from the agent"
sed -e "s|^ExecStart=/usr/bin/keepup |ExecStart=$root/usr/bin/keepup |" "$agent_unit" >"$work/keepup-agent.service"
MANPATH=$root/usr/share/man systemd-analyze verify "$work/keepup-agent.service" >"$work/verify-agent.log" 2>&1 \
  || { cat "$work/verify-agent.log" >&2; fail "systemd-analyze verify rejects keepup-agent.service"; }
[ ! -s "$work/verify-agent.log" ] || { cat "$work/verify-agent.log" >&2; fail "systemd-analyze verify warns about keepup-agent.service"; }
ok "systemd-analyze verify accepts keepup-agent.service"

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
debug_file=$root/usr/lib/debug/.build-id/${build_id:0:2}/${build_id:2}.debug
[ -f "$debug_file" ] || fail "the -dbgsym package has no ${debug_file#"$root"}"
# (a debug file has no program interpreter, which readelf remarks on)
# (read whole first: with pipefail, grep -q leaving early can end readelf
# by SIGPIPE mid-listing, which read as "no line tables" once)
debug_sections=$(readelf -S --wide "$debug_file" 2>/dev/null || true)
grep -q '\.debug_line' <<<"$debug_sections" || fail "the debug file has no line tables"
ok "debug info is split off into the -dbgsym package ($(du -h "$root/usr/bin/keepup" | cut -f1) binary, $(du -h "$debug_file" | cut -f1) debug file)"

# The default configuration is a conffile: reinstalling (as an upgrade
# does) keeps the local version, a removal too; only a purge takes it, and
# the unit's link.
grep -qx /etc/keepup/keepup.toml "$root/var/lib/dpkg/info/keepup.conffiles" \
  || fail "/etc/keepup/keepup.toml is not a conffile"
echo '# edited here' >>"$root/etc/keepup/keepup.toml"
dpkg_root -i "${debs[0]}"
grep -q '^# edited here' "$root/etc/keepup/keepup.toml" || fail "reinstalling replaced the edited configuration"
dpkg_root -r keepup-dbgsym keepup
[ ! -e "$root/usr/bin/keepup" ] || fail "removal left /usr/bin/keepup"
grep -q '^# edited here' "$root/etc/keepup/keepup.toml" || fail "removal took the configuration"
dpkg_root -P keepup
[ ! -e "$root/etc/keepup/keepup.toml" ] || fail "purge left /etc/keepup/keepup.toml"
[ ! -e "$root/etc/systemd/system/multi-user.target.wants/keepup.service" ] || fail "purge left the unit enabled"
ok "the configuration survives reinstall and removal, and goes with purge"

echo "package: $passed passed, 0 failed"
