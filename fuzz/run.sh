#!/usr/bin/env bash
# Fuzzes every parser with AFL++ (through cargo-afl, on stable Rust), from corpora of valid files
# the targets write themselves. Each target runs until it has done EXECS executions or SECONDS
# seconds, whichever comes first, under a memory cap and a per-input time limit; any crash
# (a panic, an abort, an allocation past the cap) or hang fails the run, with its input kept.
#
#   fuzz/run.sh                         # every target, 10⁶ executions each (or one hour)
#   fuzz/run.sh --seconds 20 --seed 1   # the smoke CI runs: 20 s each, AFL++'s random seed fixed
#   fuzz/run.sh --execs 100000 npy tsv  # some targets
#
# Results: fuzz/runs/<target>/ (AFL++'s output: crashes/, hangs/, fuzzer_stats) and a summary
# table, also in fuzz/runs/summary.txt.
set -euo pipefail
cd "$(dirname "$0")"

EXECS=1000000
SECONDS_EACH=3600
MEMORY_MB=2048
TIMEOUT_MS=2000
SEED=()
TARGETS=()
while [ $# -gt 0 ]; do
  case "$1" in
    --execs) EXECS="$2"; shift 2 ;;
    --seconds) SECONDS_EACH="$2"; shift 2 ;;
    --memory-mb) MEMORY_MB="$2"; shift 2 ;;
    --seed) SEED=(-s "$2"); shift 2 ;;
    -h|--help) sed -n '2,14p' "$0"; exit 0 ;;
    -*) echo "unknown flag $1 (see --help)" >&2; exit 2 ;;
    *) TARGETS+=("$1"); shift ;;
  esac
done

# cargo-afl builds AFL++ from the source its crate ships when it is installed.
if ! cargo afl --version >/dev/null 2>&1; then
  cargo install cargo-afl --version 0.18.2 --locked
fi
cargo afl build --release
# The targets on their seeds and deterministic mutations, without AFL++: the harness itself works.
cargo afl test --release --lib
BIN=target/release/fuzz_target
if [ ${#TARGETS[@]} -eq 0 ]; then
  read -r -a TARGETS <<<"$("$BIN" 2>&1 | sed -n 's/.*targets: //p')"
fi

export AFL_NO_UI=1 AFL_SKIP_CPUFREQ=1 AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES=1 AFL_NO_AFFINITY=1
mkdir -p runs
SUMMARY=runs/summary.txt
printf '%-16s %12s %9s %8s %6s\n' target executions seconds crashes hangs | tee "$SUMMARY"
failed=0
for target in "${TARGETS[@]}"; do
  rm -rf "runs/$target" "runs/$target.seeds"
  "$BIN" seeds "$target" "runs/$target.seeds"
  cargo afl fuzz -i "runs/$target.seeds" -o "runs/$target" -E "$EXECS" -V "$SECONDS_EACH" "${SEED[@]}" \
    -m "$MEMORY_MB" -t "$TIMEOUT_MS" -- "$BIN" "$target" >"runs/$target.log" 2>&1 || {
    echo "afl-fuzz failed on $target; its log:" >&2
    tail -30 "runs/$target.log" >&2
    failed=1
    continue
  }
  stats="runs/$target/default/fuzzer_stats"
  stat() { sed -n "s/^$1 *: *//p" "$stats"; }
  crashes=$(find "runs/$target/default/crashes" -type f -name 'id:*' | wc -l)
  hangs=$(find "runs/$target/default/hangs" -type f -name 'id:*' | wc -l)
  elapsed=$(($(stat last_update) - $(stat start_time)))
  printf '%-16s %12s %9s %8s %6s\n' "$target" "$(stat execs_done)" "$elapsed" "$crashes" "$hangs" | tee -a "$SUMMARY"
  if [ "$crashes" -gt 0 ] || [ "$hangs" -gt 0 ]; then
    failed=1
    for input in "runs/$target"/default/{crashes,hangs}/id:*; do
      [ -f "$input" ] && echo "  $input" | tee -a "$SUMMARY"
    done
  fi
done
exit "$failed"
