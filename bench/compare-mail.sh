#!/usr/bin/env bash
# Mail checks, keepup vs monitoring-plugins, side by side in one run against
# the same private Postfix and Dovecot on loopback.
#
#   bash bench/compare-mail.sh [RUNS] [ROUNDS]
#
# `keepup bench mail` starts the servers (testkit launchers), then per round
# and per pair runs RUNS keepup checks (the production probe, in process, as
# the daemon runs them) and RUNS plugin processes (as a Nagios-style
# scheduler runs them), one at a time: check_smtp -S (STARTTLS), check_smtp,
# check_imap, check_simap, check_pop, check_spop. Medians and ratios are
# printed; the plugin's own time= perfdata is shown too.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${1:-200}
ROUNDS=${2:-3}

need=()
for p in postfix dovecot-imapd dovecot-pop3d monitoring-plugins-basic monitoring-plugins-standard; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || need+=("$p")
done
if ((${#need[@]})); then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}"
fi
[ -n "${SKIP_BUILD:-}" ] || cargo build --release -p keepup --features bench -q
target/release/keepup bench mail --runs "$RUNS" --rounds "$ROUNDS"
