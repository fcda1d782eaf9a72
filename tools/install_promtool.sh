#!/usr/bin/env bash
# promtool (Prometheus's rule tester) for the alert tests, from Debian/Ubuntu's `prometheus`
# package. Only the binary is wanted: no Prometheus server may start, so the install runs under a
# policy-rc.d that refuses every service start (invoke-rc.d and deb-systemd-invoke honour it).
set -euo pipefail
command -v promtool >/dev/null 2>&1 && exit 0
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "promtool missing: install the Debian/Ubuntu package 'prometheus' (apt-get install prometheus)" >&2
  exit 1
fi
guard=/usr/sbin/policy-rc.d
added=""
if [ ! -e "$guard" ]; then
  printf '#!/bin/sh\nexit 101\n' >"$guard" && chmod +x "$guard" && added=1
fi
trap '[ -n "$added" ] && rm -f "$guard"' EXIT
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus
command -v promtool
