#!/usr/bin/env bash
# promtool (Prometheus's rule tester) for the alert tests, from Debian/Ubuntu's `prometheus`
# package. Only the binary is wanted: no Prometheus server may start (tools/install_deb.sh).
exec /bin/bash "$(dirname "$0")/install_deb.sh" promtool prometheus no-services
