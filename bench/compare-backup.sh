#!/usr/bin/env bash
# Backups, keepup vs restic (Debian's restic 0.14), side by side in one run
# on the same generated data and the same kind of target (a local
# repository on the same disk).
#
#   bash bench/compare-backup.sh [FILES_GB] [DUMP_MB] [WORKDIR] [ROUNDS]
#   STEPS="first restore file" bash bench/compare-backup.sh ...   # a subset
#
# The dataset is generated once (deterministic): FILES_GB of files of mixed
# sizes (many small, some medium, a few large; half random, half text) and a
# DUMP_MB SQL dump of generated shop data. Each tool then makes a first
# backup (files and dump: the dump through stdin, as a streamed database
# dump is), an incremental backup of the unchanged tree, and a full restore
# (files and dump), checked identical to the source; then the dump alone
# to stdout (`restic dump` / `keepup backup restore --file`) and keepup's
# restore test of a sample of 1000 files (`keepup backup test`; restic has
# none: only keepup's row). The step `dr` (not in the default STEPS) is
# disaster recovery's path: `keepup dr activate --yes` of a plan whose one
# step is a local `restore_files` of the files' latest snapshot, against
# `restic restore` of the same files (STEPS="first dr"). Wall time, throughput,
# CPU and peak RSS (GNU time) per step; the order of the tools alternates
# from round to round and every step starts after a `sync`, so that neither
# pays for the other's write-back; a round's restores are deleted at the
# start of the next and the restores wait for that deletion to age (see the
# ext4 note below). The dataset is all in the page cache for both (it is
# read once before round 1): the figures are the tools' own.
# Medians over the rounds and the ratios are printed at the end. The
# generated data is kept in WORKDIR for the next run (rm -rf it when done);
# the repositories and restores are deleted.
#
# keepup's repository is created with `verify_uploads = $VERIFY_UPLOADS`
# (default false here): restic 0.14 does not decrypt and decompress each
# blob again before storing it, keepup does by default (as restic 0.17+
# does). VERIFY_UPLOADS=true measures keepup's default.
set -euo pipefail
cd "$(dirname "$0")/.."
FILES_GB=${1:-2}
DUMP_MB=${2:-500}
WORK=${3:-/var/tmp/keepup-bench-backup}
ROUNDS=${4:-2}
VERIFY_UPLOADS=${VERIFY_UPLOADS:-false}
STEPS=${STEPS:-first incremental restore file test}
# DELETE_RESTORES=1: each restore is deleted once checked, and the next one
# waits for the deletion to age (SETTLE), so that only one restore is on the
# disk at a time (8 GB runs on a small disk).
DELETE_RESTORES=${DELETE_RESTORES:-}

need=()
for p in restic time; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || need+=("$p")
done
if ((${#need[@]})); then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}"
fi
[ -n "${SKIP_BUILD:-}${KEEPUP:-}" ] || cargo build --release -p keepup -q
KEEPUP=${KEEPUP:-$PWD/target/release/keepup}   # KEEPUP=/path/to/keepup: another build

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
# Warm the page cache for both tools alike.
tar -cf - -C "$DATA" . | cat >/dev/null
cat "$DUMP" >/dev/null

export RESTIC_PASSWORD=bench-password KEEPUP_BENCH_PASSWORD=bench-password
export RESTIC_CACHE_DIR=$WORK/restic-cache
FILE_BYTES=$(du -sb --apparent-size "$DATA" | cut -f1)
DUMP_BYTES=$(stat -c %s "$DUMP")
ALL_BYTES=$((FILE_BYTES + DUMP_BYTES))
RESULTS=$WORK/results.tsv
: >"$RESULTS"

# measure ROUND TOOL STEP BYTES command...: one line of figures, and a row
# in results.tsv (round, tool, step, seconds, MB/s, peak RSS MB, CPU s).
measure() {
  local round=$1 tool=$2 step=$3 bytes=$4; shift 4
  local t0 t1 secs rss cpu
  sync
  t0=$(date +%s.%N)
  /usr/bin/time -f "%M %U %S" -o "$WORK/time" "$@" >"$WORK/$tool-$step.out" 2>"$WORK/$tool-$step.err" \
    || { echo "$tool $step failed:"; tail -5 "$WORK/$tool-$step.err"; exit 1; }
  t1=$(date +%s.%N)
  secs=$(echo "$t1 - $t0" | bc -l)
  read -r rss usr sys < <(tail -1 "$WORK/time")
  cpu=$(echo "$usr + $sys" | bc -l)
  printf '%s\t%s\t%s\t%.2f\t%.1f\t%.0f\t%.1f\n' "$round" "$tool" "$step" "$secs" \
    "$(echo "$bytes / 1048576 / $secs" | bc -l)" "$(echo "$rss / 1024" | bc -l)" "$cpu" >>"$RESULTS"
  printf '  %-7s %-12s %8.2f s %8.1f MB/s  peak RSS %5.0f MB  CPU %6.1f s\n' "$tool" "$step" "$secs" \
    "$(echo "$bytes / 1048576 / $secs" | bc -l)" "$(echo "$rss / 1024" | bc -l)" "$cpu"
}

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
verify_uploads = $VERIFY_UPLOADS
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
verify_uploads = $VERIFY_UPLOADS
[[backup.source]]
kind = "command"
command = ["cat", "$DUMP"]
filename = "dump.sql"
[[backup.target]]
id = "local"
repository = "$WORK/repo-keepup"
[[recovery]]
id = "bench-dr"
site = "bench"
rto = "4h"
rpo = "1d"
[recovery.standby]
addresses = ["127.0.0.20"]
[[recovery.activate]]
kind = "restore_files"
backup = "files"
to = "$WORK/restore-keepup-dr"
TOML

R=$WORK/repo-restic
K=$WORK/keepup.toml
step_restic() { # round step
  case $2 in
    first) measure "$1" restic first "$ALL_BYTES" sh -c "restic -q -r '$R' backup '$DATA' && restic -q -r '$R' backup --stdin --stdin-filename dump.sql <'$DUMP'" ;;
    incremental) measure "$1" restic incremental "$FILE_BYTES" restic -q -r "$R" backup "$DATA" ;;
    restore)
      measure "$1" restic restore "$ALL_BYTES" sh -c "restic -q -r '$R' restore latest --path '$DATA' --target '$WORK/restore-restic' && restic -q -r '$R' restore latest --path /dump.sql --target '$WORK/restore-restic'"
      diff -rq "$DATA" "$WORK/restore-restic$DATA" && cmp "$DUMP" "$WORK/restore-restic/dump.sql" \
        || { echo "restic restore differs from the source"; exit 1; } ;;
    file)
      measure "$1" restic file "$DUMP_BYTES" sh -c "restic -q -r '$R' dump --path /dump.sql latest /dump.sql >'$WORK/dump-restic.sql'"
      cmp "$DUMP" "$WORK/dump-restic.sql" || { echo "restic dump differs from the source"; exit 1; }
      rm -f "$WORK/dump-restic.sql" ;;
    dr)
      measure "$1" restic dr "$FILE_BYTES" restic -q -r "$R" restore latest --path "$DATA" --target "$WORK/restore-restic-dr"
      diff -rq "$DATA" "$WORK/restore-restic-dr$DATA" || { echo "restic restore differs from the source"; exit 1; } ;;
    test) ;;
  esac
}
step_keepup() { # round step
  case $2 in
    first) measure "$1" keepup first "$ALL_BYTES" sh -c "'$KEEPUP' backup run files -c '$K' --quiet && '$KEEPUP' backup run dump -c '$K' --quiet" ;;
    incremental) measure "$1" keepup incremental "$FILE_BYTES" "$KEEPUP" backup run files -c "$K" --quiet ;;
    restore)
      measure "$1" keepup restore "$ALL_BYTES" sh -c "'$KEEPUP' backup restore files -c '$K' --to '$WORK/restore-keepup' --quiet && '$KEEPUP' backup restore dump -c '$K' --to '$WORK/restore-keepup' --quiet"
      diff -rq "$DATA" "$WORK/restore-keepup$DATA" && cmp "$DUMP" "$WORK/restore-keepup/dump/dump.sql" \
        || { echo "keepup restore differs from the source"; exit 1; } ;;
    file)
      measure "$1" keepup file "$DUMP_BYTES" sh -c "'$KEEPUP' backup restore dump -c '$K' --file /dump/dump.sql --quiet >'$WORK/dump-keepup.sql'"
      cmp "$DUMP" "$WORK/dump-keepup.sql" || { echo "keepup --file differs from the source"; exit 1; }
      rm -f "$WORK/dump-keepup.sql" ;;
    dr)
      # The plan's lock is released by each completed run.
      measure "$1" keepup dr "$FILE_BYTES" "$KEEPUP" dr activate bench-dr --yes -c "$K"
      diff -rq "$DATA" "$WORK/restore-keepup-dr$DATA" || { echo "keepup dr restore differs from the source"; exit 1; } ;;
    test)
      # bytes 0: the sample's size varies, so no MB/s for this row.
      measure "$1" keepup test 0 "$KEEPUP" backup test files -c "$K" --sample 1000 --quiet ;;
  esac
}

# On ext4 without a journal (as on this project's VMs), an inode freed less
# than 60 s ago (300 s while its inode table block is dirty, which a restore
# makes it) is skipped when a new one is allocated, and that scan is slow:
# the first restore after deleting the previous round's ~20 000 files took
# twice as long, whichever tool it was. So the restores wait until the
# deletion is SETTLE seconds old (untimed).
SETTLE=${SETTLE:-305}
LAST_RM=$(cat "$WORK/.restores-deleted" 2>/dev/null || echo 0)
settle() {
  local wait=$((LAST_RM + SETTLE - $(date +%s)))
  if ((wait > 0)); then
    echo "  (waiting ${wait} s for the deleted restores' inodes to age)"
    sleep "$wait"
  fi
}

echo "files: $FILE_BYTES bytes, dump: $DUMP_BYTES bytes; restic: $(restic version | cut -d' ' -f1-2); keepup: $("$KEEPUP" --version), verify_uploads = $VERIFY_UPLOADS"
for round in $(seq 1 "$ROUNDS"); do
  if [ -e "$WORK/restore-restic" ] || [ -e "$WORK/restore-keepup" ] \
    || [ -e "$WORK/restore-restic-dr" ] || [ -e "$WORK/restore-keepup-dr" ]; then
    rm -rf "$WORK/restore-restic" "$WORK/restore-keepup" "$WORK/restore-restic-dr" "$WORK/restore-keepup-dr"
    LAST_RM=$(date +%s)
  fi
  rm -rf "$R" "$WORK/repo-keepup" "$RESTIC_CACHE_DIR" "$WORK/keepup.db"*
  restic init -q -r "$R"
  mkdir -p "$WORK/repo-keepup"
  "$KEEPUP" backup init files -c "$K" --quiet
  if ((round % 2)); then order="restic keepup"; else order="keepup restic"; fi
  echo "round $round ($order)"
  for step in $STEPS; do
    case $step in restore | dr) settle ;; esac
    for tool in $order; do
      "step_$tool" "$round" "$step"
      if { [ "$step" = restore ] || [ "$step" = dr ]; } && [ -n "$DELETE_RESTORES" ]; then
        rm -rf "$WORK/restore-$tool" "$WORK/restore-$tool-dr"
        LAST_RM=$(date +%s)
        [ "$tool" = "${order##* }" ] || settle
      fi
    done
  done
  echo "  repositories: restic $(du -sh "$R" | cut -f1), keepup $(du -sh "$WORK/repo-keepup" | cut -f1)"
done
rm -rf "$R" "$WORK/repo-keepup" "$WORK/restore-restic" "$WORK/restore-keepup" "$WORK/restore-restic-dr" "$WORK/restore-keepup-dr" "$RESTIC_CACHE_DIR" "$WORK/keepup.db"*
date +%s >"$WORK/.restores-deleted"

# Medians over the rounds, and keepup / restic.
python3 - "$RESULTS" <<'PY'
import csv, statistics, sys
rows = list(csv.reader(open(sys.argv[1]), delimiter="\t"))
med = {}
steps = [s for s in ("first", "incremental", "restore", "dr", "file", "test") if any(x[2] == s for x in rows)]
for step in steps:
    for tool in ("restic", "keepup"):
        r = [x for x in rows if x[1] == tool and x[2] == step]
        if r:
            med[tool, step] = [statistics.median(float(x[i]) for x in r) for i in (3, 4, 5, 6)]
print(f"\nmedians over {len({x[0] for x in rows})} rounds")
print(f"{'step':<12} {'tool':<7} {'seconds':>8} {'MB/s':>8} {'RSS MB':>7} {'CPU s':>7}")
for step in steps:
    for tool in ("restic", "keepup"):
        if (tool, step) in med:
            s, mbs, rss, cpu = med[tool, step]
            print(f"{step:<12} {tool:<7} {s:8.2f} {mbs:8.1f} {rss:7.0f} {cpu:7.1f}")
    if ("restic", step) in med and ("keepup", step) in med:
        k, r = med["keepup", step], med["restic", step]
        print(f"{step:<12} {'k/r':<7} {k[0] / r[0]:8.2f} {k[1] / r[1]:8.2f} {k[2] / r[2]:7.2f} {k[3] / r[3]:7.2f}")
if "incremental" in steps:
    for tool in ("restic", "keepup"):
        print(f"{tool}: incremental = {100 * med[tool, 'incremental'][0] / med[tool, 'first'][0]:.1f} % of the first backup's time")
PY
