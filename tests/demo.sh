#!/bin/sh
# demo.sh LB N [LB-ARGS...]: start N test backends (b1 on 9001, b2 on
# 9002, ...) and the balancer LB on 8080 in front of them, say what to
# try, and stop them all on Ctrl-C. With STATUS=PORT in the environment
# (final/: LB-ARGS has -a PORT), also how to watch the health checks.
# A port that is taken (an earlier demo still running?) stops the demo
# before it starts, saying which.
lb=$1 n=$2
shift 2
here=$(cd "$(dirname "$0")" && pwd)
pids=
stop() {
	trap - INT TERM EXIT
	[ -n "$pids" ] && kill $pids 2>/dev/null
	wait 2>/dev/null
	echo
	echo "demo stopped"
	exit 0
}
trap stop INT TERM EXIT

# $1 just started as $2 on port $3: still running, or stop the demo.
started() {
	sleep 0.3
	kill -0 "$1" 2>/dev/null && return 0
	echo >&2
	echo "demo: $2 could not listen on 127.0.0.1:$3 (see its line above)." >&2
	echo "demo: is an earlier demo, or a backend you started by hand, still" >&2
	echo "demo: running? Stop it (its pid is in that demo's banner) and try again." >&2
	trap - INT TERM EXIT
	[ -n "$pids" ] && kill $pids 2>/dev/null
	wait 2>/dev/null
	exit 1
}

bargs=
table=
i=1
while [ "$i" -le "$n" ]; do
	port=$((9000 + i))
	"$here/backend" -l "$port" -n "b$i" -q &
	pid=$!
	started $pid "backend b$i" $port
	pids="$pids $pid"
	last_pid=$pid
	table="$table
    b$i  127.0.0.1:$port   pid $pid"
	bargs="$bargs -b 127.0.0.1:$port"
	i=$((i + 1))
done
"$lb" -l 8080 $bargs "$@" &
pid=$!
started $pid lb "8080${STATUS:+ (or $STATUS)}"
pids="$pids $pid"
cat <<MSG

Started (kill PID stops one of them; Ctrl-C here stops them all):$table
    lb  127.0.0.1:8080   pid $pid

In another terminal, try:

    curl -i http://127.0.0.1:8080/hello
    for i in 1 2 3 4; do curl -s http://127.0.0.1:8080/ | head -1; done
    curl -s 'http://127.0.0.1:8080/big?size=10000000' | wc -c
    curl -i 'http://127.0.0.1:8080/x?status=500'
MSG
if [ -n "$STATUS" ]; then
	cat <<MSG

The status page: open http://127.0.0.1:$STATUS/ in a browser, or

    curl -s http://127.0.0.1:$STATUS/              (text)
    curl -s http://127.0.0.1:$STATUS/status.json   (JSON, for scripts)
    curl -s http://127.0.0.1:$STATUS/metrics       (Prometheus)

Make b2 sick (its /health answers 503, everything else still 200): after
3 failed checks lb logs "DOWN" here and the round robin skips b2. Then
make it well: "UP" after 2 passed checks.

    curl -s http://127.0.0.1:9002/control/sick
    curl -s http://127.0.0.1:9002/control/well

Kill b$n, then start it again: DOWN with "Connection refused", then UP,
by itself, with no restart of lb. (Ctrl-C here does not stop the b$n you
start: stop it with kill %1 in that terminal when you are done.)

    kill $last_pid
    $here/backend -l $((9000 + n)) -n b$n -q &
MSG
fi
cat <<MSG

Then try what the lesson's README shows.
Press Ctrl-C here to stop everything.
MSG
wait
