#!/usr/bin/env bash
# Builds keepup's Debian packages with cargo-deb: keepup_VERSION_ARCH.deb
# (the stripped binary, keepup.service, the keepup user, the default
# /etc/keepup/keepup.toml, the man pages) and keepup-dbgsym_..._ARCH.ddeb
# (the debug info split off the binary). Prints the paths of both.
#
#   bash packaging/deb.sh                      # profile dist, into target/debian/
#   bash packaging/deb.sh --profile dev --fast --output DIR   # what packaging/test.sh does
#
# Arguments go to `cargo deb`; --profile also picks the binary to build,
# --no-build packages the one already built (e.g. by the test suite).
set -euo pipefail
cd "$(dirname "$0")/.."

profile=dist
build=yes
rest=()
while (($#)); do
  case "$1" in
    --no-build) build=no; shift ;;
    --profile) profile=$2; shift 2 ;;
    --profile=*) profile=${1#--profile=}; shift ;;
    *) rest+=("$1"); shift ;;
  esac
done
case "$profile" in
  dev) profile_dir=debug ;;
  *) profile_dir=$profile ;;
esac
target_dir=$(cargo metadata --format-version 1 --no-deps --locked | python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')
out="$target_dir/$profile_dir"

command -v cargo-deb >/dev/null || {
  echo "deb.sh: cargo-deb is missing: cargo install cargo-deb --locked" >&2
  exit 1
}

[ "$build" = no ] || cargo build --locked -p keepup --profile "$profile"
# The pages come from the binary's own clap definition, so they always
# match its options; Debian wants them compressed (gzip -n: reproducible).
rm -rf "$out/man"
mkdir -p "$out/man"
"$out/keepup" man --dir "$out/man"
gzip -9n "$out/man"/*.1

cargo deb -p keepup --no-build --profile "$profile" "${rest[@]}"
