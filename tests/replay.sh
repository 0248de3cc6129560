#!/bin/sh
# replay.sh: every input in corpus/http, corpus/conn and corpus/pp (the
# seeds, what the fuzzers kept, and each input that once found a bug)
# through its harness, once, with no fuzzing: a few seconds. Run by make
# test for final/, so CI replays them under the sanitizers too.
set -u
here=$(cd "$(dirname "$0")" && pwd)
fail=0
for h in http conn pp; do
	n=0
	for f in "$here"/corpus/$h/*; do
		[ -f "$f" ] || continue
		n=$((n + 1))
		if ! "$here/fuzz_$h" < "$f" > /dev/null 2> "$here/logs/replay.err"; then
			echo "replay: corpus/$h/$(basename "$f") breaks fuzz_$h:" >&2
			head -5 "$here/logs/replay.err" >&2
			fail=1
		fi
	done
	echo "== replay: $n inputs through fuzz_$h"
done
rm -f "$here/logs/replay.err"
exit $fail
