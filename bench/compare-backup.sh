#!/usr/bin/env bash
# Backups, keepup vs restic (Debian's restic 0.14), side by side in one run
# on the same generated data and the same kind of target (a local
# repository on the same disk).
#
#   bash bench/compare-backup.sh [FILES_GB] [DUMP_MB] [WORKDIR]
#
# The dataset is generated once (deterministic): FILES_GB of files of mixed
# sizes (many small, some medium, a few large; half random, half text) and a
# DUMP_MB SQL dump of generated shop data. Each tool then makes a first
# backup (files and dump: the dump through stdin, as a streamed database
# dump is), an incremental backup of the unchanged tree, and a full restore
# of the files. Wall time, throughput and peak RSS (GNU time) per step.
set -euo pipefail
cd "$(dirname "$0")/.."
FILES_GB=${1:-2}
DUMP_MB=${2:-500}
WORK=${3:-/var/tmp/keepup-bench-backup}

need=()
for p in restic time; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || need+=("$p")
done
if ((${#need[@]})); then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}"
fi
[ -n "${SKIP_BUILD:-}" ] || cargo build --release -p keepup -q
KEEPUP=$PWD/target/release/keepup

mkdir -p "$WORK"
DATA=$WORK/data
DUMP=$WORK/dump.sql
if [ ! -f "$WORK/.generated-$FILES_GB-$DUMP_MB" ]; then
  rm -rf "$DATA" "$DUMP" "$WORK"/.generated-*
  python3 - "$DATA" "$DUMP" "$FILES_GB" "$DUMP_MB" <<'PY'
import os, random, sys
data, dump, gb, mb = sys.argv[1], sys.argv[2], float(sys.argv[3]), int(sys.argv[4])
rng = random.Random(20261121)
total = int(gb * 1024**3)
words = [b"order", b"customer", b"product", b"cart", b"checkout", b"invoice", b"shipping", b"price", b"stock", b"review"]
def text(n):
    out = bytearray()
    while len(out) < n:
        out += b" ".join(rng.choice(words) for _ in range(12)) + b"\n"
    return bytes(out[:n])
# 30 % in small files (1-64 KiB), 50 % medium (1-16 MiB), 20 % large (64-256 MiB)
plan = [(0.3, 1 << 10, 64 << 10), (0.5, 1 << 20, 16 << 20), (0.2, 64 << 20, 256 << 20)]
n = 0
for share, lo, hi in plan:
    budget = int(total * share)
    while budget > 0:
        size = min(budget, rng.randint(lo, hi))
        d = os.path.join(data, f"d{n % 97:02d}", f"s{n % 13}")
        os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, f"f{n}.bin"), "wb") as f:
            left = size
            while left > 0:
                chunk = min(left, 8 << 20)
                f.write(rng.randbytes(chunk) if n % 2 == 0 else text(chunk))
                left -= chunk
        budget -= size
        n += 1
with open(dump, "wb") as f:
    f.write(b"CREATE TABLE orders (id bigint primary key, customer bigint, total numeric, note text);\nCOPY orders FROM stdin;\n")
    i, left = 0, mb * 1024**2
    while left > 0:
        line = b"%d\t%d\t%d.%02d\t%s\n" % (i, rng.randint(1, 10**6), rng.randint(1, 999), rng.randint(0, 99), text(rng.randint(20, 200)).replace(b"\n", b" "))
        f.write(line)
        left -= len(line)
        i += 1
    f.write(b"\\.\n")
print(f"generated {n} files")
PY
  touch "$WORK/.generated-$FILES_GB-$DUMP_MB"
fi
du -sh "$DATA" "$DUMP"

export RESTIC_PASSWORD=bench-password KEEPUP_BENCH_PASSWORD=bench-password
# Both read the same files; drop nothing from the page cache (no root
# needed for that), but run each tool's first backup after the other's
# so that neither gets only a cold cache.
measure() { # name, command...
  local name=$1; shift
  local t0 t1 rss
  t0=$(date +%s.%N)
  /usr/bin/time -f "%M" -o "$WORK/rss" "$@" >"$WORK/$name.out" 2>"$WORK/$name.err" || { echo "$name failed:"; tail -5 "$WORK/$name.err"; exit 1; }
  t1=$(date +%s.%N)
  rss=$(tail -1 "$WORK/rss")
  printf '%-28s %8.2f s  %8.1f MB/s  peak RSS %6.0f MB\n' "$name" "$(echo "$t1 - $t0" | bc)" "$(echo "$BYTES / 1048576 / ($t1 - $t0)" | bc -l)" "$(echo "$rss / 1024" | bc -l)"
}
BYTES=$(( $(du -sb "$DATA" | cut -f1) + $(stat -c %s "$DUMP") ))

cat >"$WORK/keepup.toml" <<TOML
[store]
path = "$WORK/keepup.db"
[[site]]
id = "bench"
[[backup]]
id = "files"
site = "bench"
schedule = "0 3 * * *"
password_env = "KEEPUP_BENCH_PASSWORD"
allow_single_target = true
[[backup.source]]
kind = "paths"
paths = ["$DATA"]
[[backup.target]]
id = "local"
repository = "$WORK/repo-keepup"
[[backup]]
id = "dump"
site = "bench"
schedule = "0 */2 * * *"
password_env = "KEEPUP_BENCH_PASSWORD"
allow_single_target = true
[[backup.source]]
kind = "command"
command = ["cat", "$DUMP"]
filename = "dump.sql"
[[backup.target]]
id = "local"
repository = "$WORK/repo-keepup"
TOML

for round in 1 2; do
  rm -rf "$WORK/repo-restic" "$WORK/repo-keepup" "$WORK/restore-restic" "$WORK/restore-keepup"
  restic init -q -r "$WORK/repo-restic"
  echo "round $round"
  measure "restic first backup" sh -c "restic -q -r '$WORK/repo-restic' backup '$DATA' && restic -q -r '$WORK/repo-restic' backup --stdin --stdin-filename dump.sql < '$DUMP'"
  measure "keepup first backup" sh -c "'$KEEPUP' backup run files -c '$WORK/keepup.toml' --quiet && '$KEEPUP' backup run dump -c '$WORK/keepup.toml' --quiet"
  measure "restic incremental" sh -c "restic -q -r '$WORK/repo-restic' backup '$DATA'"
  measure "keepup incremental" "$KEEPUP" backup run files -c "$WORK/keepup.toml" --quiet
  BYTES=$(du -sb "$DATA" | cut -f1)
  measure "restic restore" restic -q -r "$WORK/repo-restic" restore latest --path "$DATA" --target "$WORK/restore-restic"
  measure "keepup restore" "$KEEPUP" backup restore files -c "$WORK/keepup.toml" --to "$WORK/restore-keepup" --quiet
  BYTES=$(( $(du -sb "$DATA" | cut -f1) + $(stat -c %s "$DUMP") ))
  diff -rq "$DATA" "$WORK/restore-restic$DATA" >/dev/null && echo "restic restore identical"
  diff -rq "$DATA" "$WORK/restore-keepup$DATA" >/dev/null && echo "keepup restore identical"
done
du -sh "$WORK/repo-restic" "$WORK/repo-keepup"
