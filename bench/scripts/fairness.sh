#!/bin/bash
# bench/scripts/fairness.sh — one client at 10x its quota beside five polite ones (gRPC).
# usage: fairness.sh BUILD_DIR DATA_DIR OUT_DIR   (docs/BENCHMARKS.md, "Fairness")
set -u
B=$(realpath "$1"); DATA=$(realpath "$2"); mkdir -p "$3"; cd "$3"
printf 'server:\n  http_addr: 127.0.0.1:18080\n  grpc_addr: 127.0.0.1:15051\nresilience: {rate_limit_rps: 200, rate_limit_burst: 200}\n' > fair.yaml
"$B/pulse" serve --config fair.yaml --data-dir "$DATA" > serve.log 2>&1 & SP=$!
for _ in $(seq 1 60); do curl -sf 127.0.0.1:18080/readyz >/dev/null && break; sleep 0.5; done
$B/pulse bench --target 127.0.0.1:15051 --rps 500 --duration 3 --users 50000 --api-key warm >/dev/null 2>&1
polite() { PIDS=""; for i in 1 2 3 4 5; do $B/pulse bench --target 127.0.0.1:15051 --rps 100 --duration 10 --users 50000 --seed $i --api-key polite-$1-$i --json > polite-$1-$i.json 2>&1 & PIDS="$PIDS $!"; done; }
polite alone; wait $PIDS
polite mixed; $B/pulse bench --target 127.0.0.1:15051 --rps 2000 --duration 10 --users 50000 --seed 9 --api-key abuser --json > abuser.json 2>&1 & AP=$!; wait $PIDS $AP
for f in polite-alone-*.json polite-mixed-*.json abuser.json; do python3 -c "
import json,sys; t=open('$f').read(); d=json.loads(t[:t.rfind('}')+1]); l=d['latency_ms']; print('%-20s req %5d ok-rate %7.1f/s errors %-32s p50 %.2f p99 %.2f max %.1f ms' % ('$f', d['requests'], d['achieved_rps'], d['errors'], l['p50'], l['p99'], l['max']))"; done
kill $SP; wait $SP
uptime
