#!/bin/sh
# fuzz.sh SECONDS: run AFL++ on fuzz_http (built twice by make fuzz:
# with ASan and UBSan, and with CmpLog to solve comparisons) for
# SECONDS, from a few seed messages; report what it found. Exit 1 if any
# input crashed it (each one is replayed, to show why).
set -u
secs=${1:-60}
here=$(cd "$(dirname "$0")" && pwd)
dir=$here/logs/fuzz
rm -rf "$dir"
mkdir -p "$dir/in"

# The first byte: bit 0 response, bit 1 the request was HEAD, the rest
# where to split the body. See fuzz_http.c.
seed() { printf "$2" > "$dir/in/$1"; }
seed get '\000GET / HTTP/1.1\r\nHost: x\r\n\r\n'
seed post '\040POST /p HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello'
seed chunked '\014POST /c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5;e=1\r\nhello\r\n0\r\nT: 1\r\n\r\n'
seed conn '\000GET /h HTTP/1.0\r\nConnection: keep-alive, X-A\r\nX-A: 1\r\nKeep-Alive: 5\r\n\r\n'
seed resp '\001HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc'
seed put '\100PUT /u HTTP/1.1\r\nHost: x\r\nContent-Length: 26\r\nExpect: 100-continue\r\n\r\nabcdefghijklmnopqrstuvwxyz'
seed respchunked '\011HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\na\r\n0123456789\r\n0\r\n\r\n'
seed head '\003HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n'
seed close '\001HTTP/1.0 200 OK\r\n\r\nuntil close'
seed interim '\001HTTP/1.1 100 Continue\r\n\r\n'

# afl-fuzz quietly drops a seed that crashes: replay them first.
for f in "$dir"/in/*; do
	if ! "$here/fuzz_http_afl" < "$f" > "$dir/seed.log" 2>&1; then
		echo "fuzz: the seed $(basename "$f") crashes the harness:" >&2
		head -5 "$dir/seed.log" >&2
		exit 1
	fi
done

echo "== afl-fuzz on tests/fuzz_http for $secs s (inputs in $dir)"
AFL_SKIP_CPUFREQ=1 AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES=1 AFL_NO_UI=1 \
    afl-fuzz -V "$secs" -m none -i "$dir/in" -o "$dir/out" \
    -c "$here/fuzz_http_cmplog" -- "$here/fuzz_http_afl" > "$dir/afl.log" 2>&1
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
		"$here/fuzz_http_afl" < "$f" 2>&1 | head -5
	done
	exit 1
fi
echo "no crash"
