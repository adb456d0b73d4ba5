#!/usr/bin/env bash
# The RTO of the demo's drill (restore + DNS + verify) and the time of each
# step, for the README's "Speed and memory".
#
# Starts `keepup demo --no-faults` (the timeline's faults would make the
# verify step wait for them, which measures the timeline, not the
# recovery), waits for its first backup, runs `keepup dr drill shop-dr`
# RUNS times (default 3) and reads every step's time and the drill's RTO
# from the journal in the demo's store. Prints each run and the medians.
#
#   cargo build --release -p keepup
#   bash bench/dr-drill.sh [RUNS]          # KEEPUP=path/to/keepup to choose the binary
set -euo pipefail

runs=${1:-3}
keepup=${KEEPUP:-target/release/keepup}
[ -x "$keepup" ] || { echo "no $keepup: cargo build --release -p keepup" >&2; exit 2; }
command -v sqlite3 >/dev/null || { echo "sqlite3 is needed to read the journal" >&2; exit 2; }

dir=$(mktemp -d "${TMPDIR:-/var/tmp}/keepup-bench-dr.XXXXXX")
"$keepup" demo --dir "$dir" --every 0 --no-faults --for 30m >"$dir/demo.out" 2>&1 &
demo=$!
cleanup() {
    kill "$demo" 2>/dev/null || true
    wait "$demo" 2>/dev/null || true
    rm -rf "$dir"
}
trap cleanup EXIT

config="$dir/keepup.toml"
db="$dir/keepup.db"
# The demo backs up at every whole minute.
for _ in $(seq 1 180); do
    if [ -f "$config" ] && "$keepup" backup list shop -c "$config" --json 2>/dev/null | grep -q '"short_id"'; then
        break
    fi
    sleep 1
done
"$keepup" backup list shop -c "$config" --json | grep -q '"short_id"' || { echo "no backup of the demo shop after 3 minutes" >&2; exit 1; }

for i in $(seq 1 "$runs"); do
    "$keepup" dr drill shop-dr -c "$config" --yes >"$dir/drill-$i.out" 2>&1 || {
        cat "$dir/drill-$i.out" >&2
        exit 1
    }
done

echo "keepup dr drill shop-dr on the demo, $runs runs ($(nproc) cores, $keepup)"
sqlite3 -separator ' ' "$db" \
    "SELECT 'run', r.id, 'RTO_ms', r.rto_ms, 'total_ms', r.ended_at - r.started_at FROM dr_run r WHERE r.kind = 'drill' AND r.state = 'completed' ORDER BY r.id;"
sqlite3 -separator ' | ' "$db" \
    "SELECT s.run_id, s.idx + 1, s.kind, s.ended_at - s.started_at FROM dr_step s JOIN dr_run r ON r.id = s.run_id WHERE r.kind = 'drill' AND r.state = 'completed' ORDER BY s.run_id, s.idx;" |
    sed 's/^/  run | step | kind | ms: /'
median() { sort -n | awk '{ v[NR] = $1 } END { if (NR) print v[int((NR + 1) / 2)] }'; }
echo "medians (ms):"
printf '  RTO %s\n' "$(sqlite3 "$db" "SELECT rto_ms FROM dr_run WHERE kind = 'drill' AND state = 'completed';" | median)"
for idx in $(sqlite3 "$db" "SELECT DISTINCT s.idx FROM dr_step s JOIN dr_run r ON r.id = s.run_id WHERE r.kind = 'drill' AND r.state = 'completed' ORDER BY s.idx;"); do
    step=$(sqlite3 "$db" "SELECT (s.idx + 1) || '. ' || s.kind || ' (' || s.name || ')' FROM dr_step s JOIN dr_run r ON r.id = s.run_id WHERE r.kind = 'drill' AND r.state = 'completed' AND s.idx = $idx LIMIT 1;")
    printf '  %s %s\n' "$step" "$(sqlite3 "$db" "SELECT s.ended_at - s.started_at FROM dr_step s JOIN dr_run r ON r.id = s.run_id WHERE r.kind = 'drill' AND r.state = 'completed' AND s.idx = $idx;" | median)"
done
