#!/bin/bash
# Peak memory of `keepup run` under a spray of simultaneous logins (issue
# 14, security finding 3): N wrong-password logins from N loopback
# addresses (each in a /24 of its own) at once, twice; prints the answers by status and the daemon's
# VmHWM before and after. Usage: bench/login-spray.sh [N] [keepup binary]
set -euo pipefail
n=${1:-500}
keepup=${2:-target/release/keepup}
keepup=$(realpath "$keepup")
dir=$(mktemp -d)
trap 'kill "$pid" 2>/dev/null || true; rm -rf "$dir"' EXIT
cd "$dir"
cat > keepup.toml <<'TOML'
[server]
listen = "127.0.0.1:18585"
login_attempts_per_minute = 1000
lockout_after = 100000
[store]
path = "k.db"
[[site]]
id = "s"
[[site.check]]
id = "job"
kind = "heartbeat"
token = "job-token-1234"
period = "1h"
TOML
echo "correct horse battery" | "$keepup" user add -c keepup.toml --role viewer ann >/dev/null
"$keepup" run -c keepup.toml >run.log 2>&1 &
pid=$!
sleep 3
grep VmHWM "/proc/$pid/status"
for round in 1 2; do
python3 - "$n" <<'PY'
import collections, http.client, re, sys, threading
n = int(sys.argv[1])
def form(src):
    c = http.client.HTTPConnection("127.0.0.1", 18585, source_address=(src, 0), timeout=300)
    c.request("GET", "/login")
    r = c.getresponse()
    body = r.read().decode()
    return r.getheader("set-cookie").split(";")[0], re.search(r'name="csrf" value="([0-9a-f]+)"', body).group(1)
forms = []
for i in range(n):
    # Each address in a /24 of its own, as a guesser changing network
    # each guess: the audit log must stay bounded all the same.
    src = "127.%d.%d.1" % (1 + i // 250, 1 + i % 250)
    forms.append((src,) + form(src))
answers = collections.Counter()
def post(src, cookie, token):
    try:
        c = http.client.HTTPConnection("127.0.0.1", 18585, source_address=(src, 0), timeout=300)
        c.request("POST", "/login", body="name=ann&password=a+wrong+guess&csrf=" + token,
                  headers={"Cookie": cookie, "Content-Type": "application/x-www-form-urlencoded"})
        r = c.getresponse()
        r.read()
        answers[r.status] += 1
    except Exception as e:
        answers[type(e).__name__] += 1
threads = [threading.Thread(target=post, args=f) for f in forms]
for t in threads: t.start()
for t in threads: t.join()
print("answers", dict(answers))
PY
grep VmHWM "/proc/$pid/status"
done
echo "log lines: $(wc -l <run.log), audit rows: $("$keepup" audit -c keepup.toml --since 1h | wc -l)"
