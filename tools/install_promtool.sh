#!/usr/bin/env bash
# promtool (Prometheus's rule tester) for the alert tests, from Debian/Ubuntu's `prometheus`
# package. Only the binary is wanted: no Prometheus server may start, so the install runs under a
# policy-rc.d that refuses every service start (invoke-rc.d and deb-systemd-invoke honour it).
# As root it runs apt-get itself; otherwise through `sudo -n` (a GitHub-hosted Ubuntu runner's
# user has password-less sudo). Without either it names the package to install and exits 1.
set -euo pipefail
command -v promtool >/dev/null 2>&1 && exit 0
as_root=()
if [ "$(id -u)" != 0 ]; then
  if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    as_root=(sudo -n)
  else
    as_root=(missing)
  fi
fi
if [ "${as_root[0]:-}" = missing ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "promtool missing: install the Debian/Ubuntu package 'prometheus' (sudo apt-get install prometheus)" >&2
  exit 1
fi
# POLICY_RC_D: only tests/test_workflows.py points it elsewhere.
guard=${POLICY_RC_D:-/usr/sbin/policy-rc.d}
added=""
if [ ! -e "$guard" ]; then
  printf '#!/bin/sh\nexit 101\n' | "${as_root[@]}" tee "$guard" >/dev/null
  "${as_root[@]}" chmod +x "$guard"
  added=1
fi
trap '[ -n "$added" ] && "${as_root[@]}" rm -f "$guard"' EXIT
"${as_root[@]}" apt-get update -qq
"${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus
command -v promtool
