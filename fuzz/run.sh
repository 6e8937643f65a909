#!/usr/bin/env bash
# Builds every fuzz target and runs each for SECONDS, one after another;
# exits non-zero as soon as a target crashes, panics, hangs (an input that
# runs over 5 s) or uses more than 2 GiB.
#
#   fuzz/run.sh SECONDS [TARGET...]           # e.g. fuzz/run.sh 30 (CI)
#   fuzz/run.sh --runs N SECONDS [TARGET...]  # stop each at N inputs too
#
# Needs cargo-fuzz (`cargo install cargo-fuzz`). Works on a stable
# toolchain: RUSTC_BOOTSTRAP=1 lets it take the -Z flags cargo-fuzz passes.
# Each target starts from its committed seeds (seeds/TARGET) and the corpus
# of earlier local runs (corpus/TARGET, not committed), with the shared
# dictionary allot.dict; the reproducers in regressions/TARGET are run
# first and must pass. Prints one `fuzz:` line per target with its figures.
#
# Environment: FUZZ_SANITIZER (default `none`; `address` for ASan, about
# 3x slower), FUZZ_TIMEOUT (seconds per input, default 5), FUZZ_RSS_MB
# (default 2048).
set -euo pipefail

runs=""
if [[ "${1:-}" == "--runs" ]]; then
    runs="$2"
    shift 2
fi
if [[ $# -lt 1 || ! "$1" =~ ^[0-9]+$ ]]; then
    echo "usage: $0 [--runs N] SECONDS [TARGET...]" >&2
    exit 2
fi
seconds="$1"
shift
targets=("$@")
if [[ ${#targets[@]} -eq 0 ]]; then
    targets=(workload runtime_config fault_plan gap trace)
fi

cd "$(dirname "$0")"
export RUSTC_BOOTSTRAP=1
sanitizer="${FUZZ_SANITIZER:-none}"
timeout_s="${FUZZ_TIMEOUT:-5}"
rss_mb="${FUZZ_RSS_MB:-2048}"
build=(-O -a -s "$sanitizer")
triple="$(rustc -vV | sed -n 's/^host: //p')"
bin_dir="target/$triple/release"

cargo fuzz build "${build[@]}"

status=0
for t in "${targets[@]}"; do
    mkdir -p "corpus/$t" "artifacts/$t"
    if compgen -G "regressions/$t/*" >/dev/null; then
        if ! "$bin_dir/$t" -timeout="$timeout_s" -rss_limit_mb="$rss_mb" \
            regressions/"$t"/* >"artifacts/$t/regressions.log" 2>&1; then
            echo "fuzz: target=$t result=REGRESSION (see fuzz/artifacts/$t/regressions.log)"
            tail -n 30 "artifacts/$t/regressions.log" >&2
            status=1
            continue
        fi
    fi
    log="artifacts/$t/run.log"
    args=(-max_total_time="$seconds" -timeout="$timeout_s" -rss_limit_mb="$rss_mb"
        -dict=allot.dict -print_final_stats=1 -artifact_prefix="artifacts/$t/")
    if [[ -n "$runs" ]]; then
        args+=(-runs="$runs")
    fi
    start=$(date +%s)
    if cargo fuzz run "${build[@]}" "$t" "corpus/$t" "seeds/$t" -- "${args[@]}" \
        >"$log" 2>&1; then
        result=ok
    else
        result=FAILED
        status=1
    fi
    elapsed=$(($(date +%s) - start))
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n 1)
    rss=$(sed -n 's/^stat::peak_rss_mb: *//p' "$log" | tail -n 1)
    last=$(grep -E '^#[0-9]+' "$log" | tail -n 1 || true)
    cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$last")
    ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$last")
    corpus=$(sed -n 's/.* corp: \([0-9]*\/[0-9]*[A-Za-z]*\).*/\1/p' <<<"$last")
    echo "fuzz: target=$t result=$result execs=${execs:-?} exec_per_s=${rate:-?}" \
        "seconds=$elapsed corpus=${corpus:-?} cov=${cov:-?} ft=${ft:-?} peak_rss_mb=${rss:-?}"
    if [[ "$result" != ok ]]; then
        grep -E -A 12 "panicked|ERROR: libFuzzer|SUMMARY|Test unit written" "$log" | head -n 40 >&2 || true
        tail -n 5 "$log" >&2
    fi
done
# The workload target writes each input to a file named after its process.
rm -f /dev/shm/allot-fuzz-workload-* 2>/dev/null || true
exit "$status"
