#!/bin/bash
# bench/scripts/serving_figures.sh — the issue 5/6 serving figures of docs/BENCHMARKS.md, on one
# machine: floors, rate sweeps (gRPC, HTTP), server CPU per request, tracing on vs off, cache
# off, spike and burst, and the highest rate at p99 <= 5 ms.
#
# usage: serving_figures.sh BUILD_DIR DATA_DIR OUT_DIR [PART...]
#   DATA_DIR: a trained data dir (pulse gen / import / train; see docs/BENCHMARKS.md "Setup")
#   PART: floors sweep tracing nocache burst findmax ratio (default: all)
# Server CPU per request = utime+stime of the server process over a run / requests; generator CPU
# per request = the same of the `pulse bench` process (start-up included).
set -u
B=$(realpath "$1"); DATA=$(realpath "$2"); OUT=$(realpath -m "$3"); shift 3
HERE=$(dirname "$(realpath "$0")")
PARTS=${*:-floors sweep tracing nocache burst findmax ratio}
mkdir -p "$OUT"; cd "$OUT"
HTTP=127.0.0.1:18080; GRPC=127.0.0.1:15051; SINK_PORT=14318
MODEL_DIR=$(ls -d "$DATA"/models/v* | sort | tail -1)

config() {  # name extra-yaml
  printf 'server:\n  http_addr: %s\n  grpc_addr: %s\n%s' "$HTTP" "$GRPC" "$2" > "$OUT/$1.yaml"
}
config default ""
config tracing001 $'obs:\n  tracing:\n    endpoint: "http://127.0.0.1:'$SINK_PORT$'"\n    sample_ratio: 0.01\n'
config tracing1 $'obs:\n  tracing:\n    endpoint: "http://127.0.0.1:'$SINK_PORT$'"\n    sample_ratio: 1.0\n'
config nocache $'cache:\n  ttl_ms: 0\n'

ticks() { awk '{print $14+$15}' "/proc/$1/stat"; }
run() {  # pid label bench-args...
  local pid=$1 label=$2; shift 2
  local t0; t0=$(ticks "$pid")
  /usr/bin/time -f "%U %S" -o "$OUT/$label.time" "$B/pulse" bench "$@" --json > "$OUT/$label.json" 2> "$OUT/$label.err"
  local t1; t1=$(ticks "$pid")
  python3 -c '
import json, sys
t = open(sys.argv[1]).read(); d = json.loads(t[:t.rfind("}") + 1]); l = d["latency_ms"]
cpu = (int(sys.argv[3]) - int(sys.argv[2])) * 1e6 / int(sys.argv[4]) / max(d["requests"], 1)
open(sys.argv[1][:-len(".json")] + ".cpu", "w").write("%.1f\n" % cpu)
gen = sum(map(float, open(sys.argv[6]).read().split()[:2])) * 1e6 / max(d["requests"], 1)
print("%-26s achieved %9.1f/s  %6d req  errors %-40s p50 %.2f p90 %.2f p99 %.2f p99.9 %.2f max %.1f ms  server CPU %.0f us/req  generator %.0f us/req"
      % (sys.argv[5], d["achieved_rps"], d["requests"], d["errors"], l["p50"], l["p90"], l["p99"], l["p999"], l["max"], cpu, gen))
' "$OUT/$label.json" "$t0" "$t1" "$(getconf CLK_TCK)" "$label" "$OUT/$label.time"
}
start() {  # config-name
  "$B/pulse" serve --config "$OUT/$1.yaml" --data-dir "$DATA" > "$OUT/serve-$1.log" 2>&1 &
  SP=$!
  for _ in $(seq 1 120); do curl -sf "$HTTP/readyz" > /dev/null && break; sleep 0.5; done
  # Warm-up, 40,000 requests: the measured runs then meet a server that has read most users'
  # histories from RocksDB once, as a long-running one has (a first read of a user costs a
  # RocksDB get and a decode). Until session 5 this was 3 s at 1,000/s.
  "$B/pulse" bench --target "$GRPC" --rps 4000 --duration 10 --users 50000 > /dev/null 2>&1
}
stop() { kill "$SP"; wait "$SP" 2> /dev/null; }
computations() { curl -s "$HTTP/metrics" | awk '/^pulse_recommend_computations_total/ {print $2}'; }

echo "uptime: $(uptime)"
for part in $PARTS; do
  case $part in
    floors)
      PULSE_MODEL_DIR=$MODEL_DIR "$B/bench/serving_floors_bench" --benchmark_min_time=2 2>&1 | grep BM_
      "$B/bench/serving_floors_bench" --empty_grpc_server=127.0.0.1:15052 > /dev/null 2>&1 &
      EP=$!
      "$B/bench/serving_floors_bench" --empty_grpc_server=127.0.0.1:15053 --cq_threads=1 > /dev/null 2>&1 &
      CP=$!; sleep 1
      for r in 2000 6000 8000; do
        run $EP empty_grpc_$r --target 127.0.0.1:15052 --rps $r --duration 8 --users 50000
        run $CP empty_grpc_cq1_$r --target 127.0.0.1:15053 --rps $r --duration 8 --users 50000
      done
      run $EP empty_grpc_8000_batch500 --target 127.0.0.1:15052 --rps 8000 --duration 8 --users 50000 --batch-us 500
      kill $EP $CP; wait $EP $CP 2> /dev/null ;;
    sweep)
      start default
      for r in 2000 4000 6000 8000; do run $SP grpc_$r --target $GRPC --rps $r --duration 8 --users 50000; done
      for r in 6000 8000; do run $SP grpc_${r}_batch500 --target $GRPC --rps $r --duration 8 --users 50000 --batch-us 500; done
      for r in 2000 4000 6000; do run $SP http_$r --target $HTTP --proto http --rps $r --duration 8 --users 50000; done
      stop ;;
    tracing)
      python3 "$HERE/otlp_sink.py" $SINK_PORT & SINK=$!
      for round in 1 2; do
        for c in default tracing001 tracing1; do
          start $c; run $SP trace_${c}_r$round --target $GRPC --rps 3000 --duration 10 --users 50000; stop
        done
      done
      kill $SINK ;;
    nocache)
      start nocache
      for r in 2000 3000 4000; do run $SP nocache_grpc_$r --target $GRPC --rps $r --duration 8 --users 50000; done
      "$B/pulse" bench --target $GRPC --rps 2000 --duration 5 --users 50000 --find-max --p99-ms 5 2>&1 | tail -1
      stop ;;
    burst)
      start default
      run $SP spike_grpc_2000x3 --target $GRPC --rps 2000 --shape spike --duration 20 --users 50000
      run $SP burst_grpc_30000 --target $GRPC --rps 30000 --duration 5 --users 50000
      run $SP after_burst30k_grpc_2000 --target $GRPC --rps 2000 --duration 5 --users 50000
      run $SP burst_grpc_12000 --target $GRPC --rps 12000 --duration 5 --users 50000
      run $SP after_burst12k_grpc_2000 --target $GRPC --rps 2000 --duration 5 --users 50000
      curl -s "$HTTP/metrics" | grep -E "^pulse_admission_rejected_total|^pulse_process_resident"
      stop ;;
    findmax)
      start default
      "$B/pulse" bench --target $GRPC --rps 2000 --duration 5 --users 50000 --find-max --p99-ms 5 2>&1 | tail -1
      "$B/pulse" bench --target $GRPC --rps 3000 --duration 5 --users 50000 --batch-us 500 --find-max --p99-ms 5 2>&1 | tail -1
      "$B/pulse" bench --target $HTTP --proto http --rps 2000 --duration 5 --users 50000 --find-max --p99-ms 5 2>&1 | tail -1
      stop ;;
    ratio)
      # Server CPU per request against the sum of its floors, each rate's empty call measured
      # right before the server's run: a computed request (cache off) against all three floors,
      # and the default config against the gRPC floor plus the ANN and scoring floors weighted
      # by the share of requests it computed (a cache hit runs neither).
      read -r ANN SCORE < <(PULSE_MODEL_DIR=$MODEL_DIR "$B/bench/serving_floors_bench" \
        --benchmark_min_time=2 --benchmark_format=json 2> /dev/null | python3 -c '
import json, sys
d = {b["name"]: b["cpu_time"] / 1000 for b in json.load(sys.stdin)["benchmarks"]}
print(d["BM_AnnQuery"], d["BM_Scoring"])')
      echo "floors: ann query $ANN us, scoring $SCORE us"
      "$B/bench/serving_floors_bench" --empty_grpc_server=127.0.0.1:15052 > /dev/null 2>&1 &
      EP=$!; sleep 1
      for config_name in nocache default; do
        start $config_name
        for r in 3000 4000 6000; do
          run $EP ratio_empty_${config_name}_$r --target 127.0.0.1:15052 --rps $r --duration 8 --users 50000
          c0=$(computations)
          run $SP ratio_${config_name}_$r --target $GRPC --rps $r --duration 8 --users 50000
          c1=$(computations)
          python3 -c '
import json, sys
out, cfg, r, ann, score, c0, c1 = sys.argv[1:]
empty = float(open("%s/ratio_empty_%s_%s.cpu" % (out, cfg, r)).read())
cpu = float(open("%s/ratio_%s_%s.cpu" % (out, cfg, r)).read())
t = open("%s/ratio_%s_%s.json" % (out, cfg, r)).read()
requests = json.loads(t[:t.rfind("}") + 1])["requests"]
share = (float(c1) - float(c0)) / max(requests, 1)
floors = empty + float(ann) + float(score)
weighted = empty + share * (float(ann) + float(score))
print("%-8s %5s/s  server %.0f us/req  empty call %.0f  floors %.0f -> %.2fx  computed %.0f%%  weighted floors %.0f -> %.2fx"
      % (cfg, r, cpu, empty, floors, cpu / floors, 100 * share, weighted, cpu / weighted))
' "$OUT" $config_name $r "$ANN" "$SCORE" "$c0" "$c1"
        done
        stop
      done
      kill $EP; wait $EP 2> /dev/null ;;
  esac
done
echo "uptime: $(uptime)"
