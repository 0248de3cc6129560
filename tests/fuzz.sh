#!/bin/sh
# fuzz.sh HARNESS SECONDS: run AFL++ on fuzz_HARNESS (http: the parser;
# conn: the connection state machine; pp: the PROXY protocol reader),
# built twice by make fuzz (with ASan and UBSan, and with CmpLog to solve
# comparisons), for SECONDS, from the inputs in corpus/HARNESS; report
# what it found. Exit 1 if any input crashed it (each one is replayed, to
# show why). What AFL++ kept is in logs/fuzz-HARNESS/out/default/queue:
# new finds for the corpus.
set -u
h=${1:-http}
secs=${2:-60}
here=$(cd "$(dirname "$0")" && pwd)
dir=$here/logs/fuzz-$h
rm -rf "$dir"
mkdir -p "$dir"

# afl-fuzz quietly drops a seed that crashes: replay them first.
for f in "$here"/corpus/$h/*; do
	if ! "$here/fuzz_${h}_afl" < "$f" > "$dir/seed.log" 2>&1; then
		echo "fuzz: the seed $(basename "$f") crashes the harness:" >&2
		head -5 "$dir/seed.log" >&2
		exit 1
	fi
done

echo "== afl-fuzz on tests/fuzz_$h for $secs s (inputs in $dir)"
AFL_SKIP_CPUFREQ=1 AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES=1 AFL_NO_UI=1 \
    afl-fuzz -V "$secs" -m none -t 2000 -i "$here/corpus/$h" -o "$dir/out" \
    -c "$here/fuzz_${h}_cmplog" -- "$here/fuzz_${h}_afl" > "$dir/afl.log" 2>&1
stats=$dir/out/default/fuzzer_stats
if [ ! -f "$stats" ]; then
	echo "fuzz: afl-fuzz did not run; the end of its log:" >&2
	tail -20 "$dir/afl.log" >&2
	exit 2
fi
awk -F' *: ' '/^(execs_done|execs_per_sec|corpus_count|saved_crashes|saved_hangs|bitmap_cvg)/ {
	printf "  %-14s %s\n", $1, $2 }' "$stats"
crashes=$(ls "$dir/out/default/crashes" 2>/dev/null | grep -cv README)
if [ "$crashes" -gt 0 ]; then
	for f in "$dir"/out/default/crashes/id*; do
		echo "== $f"
		"$here/fuzz_${h}_afl" < "$f" 2>&1 | head -5
	done
	exit 1
fi
echo "no crash"
