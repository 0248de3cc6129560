#!/bin/sh
# reload.sh: does a reload drop anything? final/lb -f FILE under wrk's
# keep-alive load, sent SIGHUP every RELOAD_MS ms, the file switching
# between two sets of backends each time:
#
#   file A: b1, b2            file B: b2,weight=3, b3, b1,drain
#
# so every reload adds or removes a backend, changes a weight and drains
# one, while requests are in flight on all of them. Any error wrk counts
# (a connect, read or write error, a timeout, a non-2xx status) is a
# request the reload cost; the script prints them and fails if there are
# any.
#
#   sh tests/reload.sh                    1 process, then -w 2
#   WORKERS="4" CLIENTS=100 SECONDS_=20 RELOAD_MS=200 sh tests/reload.sh
#
# Backends: tests/backend (make -C tests backend), quiet.
set -u
CLIENTS=${CLIENTS:-50}
SECS=${SECONDS_:-10}
RELOAD_MS=${RELOAD_MS:-500}
WORKERS=${WORKERS:-1 2}
me=reload
. "$(dirname "$0")/script.sh"

command -v wrk >/dev/null || fail "needs wrk (Debian: apt-get install wrk)"
[ -x "$top/final/lb" ] || fail "build final/lb first (make)"
[ -x "$here/backend" ] || fail "build tests/backend first (make -C tests backend)"
ulimit -n 8192 2>/dev/null

base=$((10000 + $$ % 20000))
b1=$((base + 1)) b2=$((base + 2)) b3=$((base + 3)) lbport=$((base + 10))
for p in $b1 $b2 $b3; do
	"$here/backend" -l $p -n b$p -q -I 0 2>"$tmp/b$p.err" &
	pids="$pids $!"
done
printf '127.0.0.1:%s\n127.0.0.1:%s\n' $b1 $b2 > "$tmp/a.conf"
printf '127.0.0.1:%s,weight=3\n127.0.0.1:%s\n127.0.0.1:%s,drain\n' \
    $b2 $b3 $b1 > "$tmp/b.conf"
sleep 0.3

status=0
for w in $WORKERS; do
	cp "$tmp/a.conf" "$tmp/lb.conf"
	"$top/final/lb" -l $lbport -f "$tmp/lb.conf" -w $w -i 200 -m 1024 \
	    >/dev/null 2>"$tmp/lb.err" &
	lb=$!
	up=0
	for i in 1 2 3 4 5 6 7 8 9 10; do
		grep -q "listening on" "$tmp/lb.err" 2>/dev/null && up=1 && break
		sleep 0.2
	done
	sleep 1		# the checks bring every backend up
	wrk -t 2 -c $CLIENTS -d ${SECS}s --timeout 5s \
	    "http://127.0.0.1:$lbport/" > "$tmp/wrk.out" 2>&1 &
	wrkpid=$!
	n=0 next=b
	end=$(( $(date +%s) + SECS ))
	while [ "$(date +%s)" -lt $end ]; do
		sleep "$(awk -v m=$RELOAD_MS 'BEGIN { print m / 1000 }')"
		cp "$tmp/$next.conf" "$tmp/lb.conf.new"
		mv "$tmp/lb.conf.new" "$tmp/lb.conf"	# whole, never half
		kill -HUP $lb
		n=$((n + 1))
		[ $next = b ] && next=a || next=b
	done
	wait $wrkpid
	kill $lb
	wait $lb
	reloads=$(grep -c "reload of" "$tmp/lb.err")
	failed=$(grep -c "reload failed" "$tmp/lb.err")
	reqs=$(awk '/requests in/ { print $1 }' "$tmp/wrk.out")
	errs=$(awk '/Socket errors/ { gsub(",", ""); print $4 + $6 + $8 + $10 }
	    /Non-2xx/ { print $NF }' "$tmp/wrk.out" | awk '{ s += $1 } END { print s + 0 }')
	printf -- '-w %s: %s requests, %s clients, %s SIGHUPs, %s reloads logged (%s failed), %s errors\n' \
	    $w "${reqs:-?}" $CLIENTS $n $reloads $failed $errs
	[ "$up" = 1 ] && [ -n "$reqs" ] && [ "$errs" = 0 ] && [ "$failed" = 0 ] ||
	    { status=1; cat "$tmp/wrk.out"; tail -5 "$tmp/lb.err"; }
done
exit $status
