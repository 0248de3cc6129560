# script.sh: what tests/bench.sh and tests/reload.sh share, sourced by
# both after they set `me` (their name, for messages): where they are, a
# scratch folder, and the processes they start (add each pid to $pids),
# all removed or killed however the script ends.
here=$(cd "$(dirname "$0")" && pwd)
top=$(dirname "$here")
tmp=$(mktemp -d)
pids=
cleanup() {
	[ -n "$pids" ] && kill $pids 2>/dev/null
	wait 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT INT TERM
fail() { echo "$me: $*" >&2; exit 1; }
