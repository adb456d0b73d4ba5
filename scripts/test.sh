#!/usr/bin/env bash
# Runs keepup's whole test suite on a fresh Debian machine: installs the
# Debian packages the tests start as real servers (when missing), then runs
# every test of the workspace, then the lints.
#
#   bash scripts/test.sh            # everything
#   bash scripts/test.sh -p keepup-probe   # extra args go to cargo test
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian packages the tests need: knot (Knot DNS: knotd serves the test DNS
# hierarchy and blacklist zones), iproute2 and util-linux (network
# namespaces and setpriv for the ICMP socket tests), Postfix and Dovecot
# (private instances for the mail checks, crates/testkit/src/mail.rs);
# for the backups: restic (the standalone tool must read what keepup
# wrote), rclone (`rclone serve restic`: the REST target), OpenSSH (a
# private sshd: the SFTP target; crates/testkit/src/{rclone,sshd}.rs), and
# PostgreSQL and MariaDB servers and clients (private servers for the dump
# and restore tests, crates/testkit/src/{postgres,mariadb}.rs); rsync
# (disaster recovery's restore_files onto a host over ssh,
# crates/recovery/tests/restore.rs); for the Debian package's test (packaging/test.sh): dpkg-dev and binutils
# (cargo-deb's dependency scan and debug-info split), systemd
# (systemd-analyze verify, systemd-sysusers), man-db (the unit's
# Documentation= page, looked up by systemd-analyze verify); chromium and
# chromium-driver (the web dashboard's end-to-end tests drive the browser
# through chromedriver; kind = "browser" drives chromium itself over the
# DevTools pipe, crates/probe/tests/browser.rs); prometheus (promtool checks /metrics,
# crates/web/tests/metrics.rs); bind9-dnsutils and knot-dnsutils
# (nsupdate runs the Recovery Plan's DNS lines and kdig confirms the
# records, crates/recovery/tests/dns.rs); bind9 (a private named whose zone
# allows no update answers REFUSED, which Knot never does,
# crates/testkit/src/dns.rs RefusingNamed); for server supervision
# (issue 17): redis-server (private master and replica for the redis
# check), prometheus-node-exporter (scraped by the prometheus check),
# monitoring-plugins-basic (the nagios check runs real check_* plugins),
# vsftpd (a private FTP/FTPS server for the ftp check), smartmontools
# (the agent's smartctl --json; Unknown where no disk is readable);
# nginx-light (a private nginx whose stub_status the nginx_status check
# reads, crates/testkit/src/nginx.rs); varnish (a private varnishd in
# front of a test backend for the varnish check,
# crates/testkit/src/varnish.rs); tomcat10 and tomcat10-admin (a private
# Tomcat, its JRE included, whose manager status the tomcat_status check
# reads, crates/testkit/src/tomcat.rs); galera-4 (a single-node Galera
# cluster for the mysql check's Galera findings, crates/probe/tests/mysql.rs);
# ceph-mon and ceph-common (a private one-monitor cluster whose health the
# agent reads with the real `ceph health`, crates/agent/tests/replication.rs);
# glusterfs-server (a private glusterd on 127.0.0.2:24007 and a replicated
# volume whose state the agent reads with the real `gluster volume status`,
# crates/testkit/src/gluster.rs; the package starts no service without
# systemd).
PACKAGES=(ca-certificates openssl knot knot-dnsutils bind9-dnsutils bind9 iproute2 util-linux
  postfix dovecot-imapd dovecot-pop3d
  restic rclone openssh-server openssh-client rsync
  postgresql postgresql-client mariadb-server mariadb-client
  dpkg-dev binutils systemd man-db chromium chromium-driver prometheus
  redis-server prometheus-node-exporter monitoring-plugins-basic vsftpd smartmontools
  nginx-light varnish tomcat10 tomcat10-admin galera-4 ceph-mon ceph-common glusterfs-server)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "installing Debian packages: ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
# Python packages the tests start as real servers: aiosmtpd (the SMTP server
# of the e-mail channel tests), moto's server (the S3 target of the backup
# tests, crates/testkit/src/s3.rs).
python3 -c "import aiosmtpd" 2>/dev/null || python3 -m pip install --user --quiet aiosmtpd \
  || python3 -m pip install --user --quiet --break-system-packages aiosmtpd
# moto is pinned: the launcher's bootstrap hooks into moto's request
# checks, which are internals.
python3 -c "import moto.server, boto3, flask, werkzeug, moto; assert moto.__version__ == '5.2.1'" 2>/dev/null \
  || python3 -m pip install --user --quiet 'moto[server]==5.2.1' \
  || python3 -m pip install --user --quiet --break-system-packages 'moto[server]==5.2.1'

# cargo-deb builds the Debian package (packaging/deb.sh).
command -v cargo-deb >/dev/null || cargo install --locked cargo-deb --version 3.8.0

export CARGO_TERM_COLOR=${CARGO_TERM_COLOR:-never}
# One build from scratch: incremental caches would only take disk (several
# GB over ~140 test executables) for rebuilds that never come.
export CARGO_INCREMENTAL=${CARGO_INCREMENTAL:-0}
cargo test --workspace --locked "$@"
if [ $# -eq 0 ]; then
  bash packaging/test.sh --no-build
  # `keepup bench` is behind the binary's `bench` feature (it links the test
  # kit's launchers, which the default build must not): its CLI test and
  # lints run with the feature on, after the package's test
  # (which packages the default build of the binary).
  cargo test -p keepup --features bench --locked --test cli bench
  cargo clippy -p keepup --features bench --all-targets --locked -- -D warnings
  cargo fmt --all --check
  cargo clippy --workspace --all-targets --locked -- -D warnings
fi
