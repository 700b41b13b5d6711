#!/usr/bin/env bash
# Last step of `make demo`: the canary recommendation from a compat report, applied to the gateway
# file, and the diff it made. Usage: demo_step.sh REPORT.json GATEWAY.yaml ALIAS BACKEND
set -euo pipefail
if [ "$#" -ne 4 ]; then
  echo "usage: $0 REPORT.json GATEWAY.yaml ALIAS BACKEND" >&2
  exit 2
fi
report=$1 gateway=$2 alias=$3 backend=$4
migrate=${MIGRATE:-migrate}

echo "== migrate validate $gateway =="
"$migrate" validate "$gateway"

echo
echo "== migrate canary --apply $gateway (current weight read from the file) =="
rc=0
"$migrate" canary --report "$report" --apply "$gateway" --alias "$alias" --backend "$backend" || rc=$?
# 0 promote/hold, 1 rollback, 4 inconclusive: each is an answer the demo shows, not a failure.
case "$rc" in 0|1|4) ;; *) exit "$rc" ;; esac

echo
if [ -f "$gateway.bak" ]; then
  echo "== diff $gateway.bak $gateway =="
  diff -u "$gateway.bak" "$gateway" || true
else
  echo "== $gateway unchanged (the recommendation equals the current weight) =="
fi
