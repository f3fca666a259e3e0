#!/bin/sh
# Runs libFuzzer drivers for a bounded time each: the runner behind `make fuzz`.
#   tests/fuzz/run.sh BIN_DIR SECONDS NAME...
# Driver BIN_DIR/fuzz_NAME fuzzes for SECONDS over BIN_DIR/corpus/NAME (the
# working corpus, where new inputs go) and tests/fuzz/corpus/NAME (the
# committed seeds, only read), with tests/fuzz/NAME.dict if there is one.
# A crash, leak, timeout or failed invariant saves the input under
# tests/fuzz/crashes/ and makes the run fail; every driver still runs.
# Each driver's full output is in BIN_DIR/NAME.log; one line per driver here.
set -u
bin=$1 secs=$2
shift 2
here=$(dirname "$0")
mkdir -p "$here/crashes"
failed=""
for n in "$@"; do
    mkdir -p "$bin/corpus/$n"
    dict=""
    [ -f "$here/$n.dict" ] && dict="-dict=$here/$n.dict"
    log="$bin/$n.log"
    # -timeout: one input taking seconds is a finding (CPU amplification).
    "$bin/fuzz_$n" -max_total_time="$secs" -timeout=10 -print_final_stats=1 \
        -artifact_prefix="$here/crashes/$n-" $dict \
        "$bin/corpus/$n" "$here/corpus/$n" >"$log" 2>&1
    rc=$?
    done_line=$(grep -E '^#[0-9]+[[:space:]]+DONE' "$log" | tail -n 1 | tr -s ' \t' ' ')
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
    if [ $rc -eq 0 ]; then
        echo "fuzz_$n: ok, ${execs:-?} runs; ${done_line#* DONE }"
    else
        failed="$failed $n"
        echo "fuzz_$n: FAILED (exit $rc), full log in $log:"
        grep -E 'invariant failed|ERROR: |SUMMARY: |runtime error|Test unit written|artifact_prefix' \
            "$log" | head -n 8 | sed 's/^/    /'
    fi
done
if [ -n "$failed" ]; then
    echo "fuzz: failed:$failed (reproducers in $here/crashes/)"
    exit 1
fi
echo "fuzz: all $# drivers ran clean"
