#!/usr/bin/env bash
# install_deb.sh COMMAND PACKAGE [no-services]: COMMAND from the Debian/Ubuntu PACKAGE, when missing.
# promtool (tools/install_promtool.sh) comes from `prometheus`, whose server may not start: with
# `no-services` the install runs under a policy-rc.d that refuses every service start
# (invoke-rc.d and deb-systemd-invoke honour it). bwrap comes from `bubblewrap` (the contract
# suite's sandbox, tests/airflow/kube_runtime.py).
# As root it runs apt-get itself; otherwise through `sudo -n` (a GitHub-hosted Ubuntu runner's
# user has password-less sudo). Without either it names the package to install and exits 1.
set -euo pipefail
command_name=$1 package=$2 services=${3:-}
command -v "$command_name" >/dev/null 2>&1 && exit 0
as_root=()
if [ "$(id -u)" != 0 ]; then
  if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    as_root=(sudo -n)
  else
    as_root=(missing)
  fi
fi
if [ "${as_root[0]:-}" = missing ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "$command_name missing: install the Debian/Ubuntu package '$package' (sudo apt-get install $package)" >&2
  exit 1
fi
if [ "$services" = no-services ]; then
  # POLICY_RC_D: only tests/test_workflow_tools.py points it elsewhere.
  guard=${POLICY_RC_D:-/usr/sbin/policy-rc.d}
  added=""
  if [ ! -e "$guard" ]; then
    printf '#!/bin/sh\nexit 101\n' | "${as_root[@]}" tee "$guard" >/dev/null
    "${as_root[@]}" chmod +x "$guard"
    added=1
  fi
  trap '[ -n "$added" ] && "${as_root[@]}" rm -f "$guard"' EXIT
fi
"${as_root[@]}" apt-get update -qq
"${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$package"
command -v "$command_name"
