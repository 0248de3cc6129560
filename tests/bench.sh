#!/bin/sh
# bench.sh: final/lb beside HAProxy, nginx, pen and lesson 3, in front of
# the same two nginx backends (a 100-byte body), measured with wrk.
#
#   sh tests/bench.sh            the default: about 4 minutes
#   ROUNDS=3 RUN_SECONDS=5 sh tests/bench.sh     longer, steadier
#   LOADS="10 100" CLOSE_LOADS= BALANCERS="final haproxy" ...   a part
#   CHART_ONLY=1 sh tests/bench.sh   the table and chart of the last run
#   final-w2 and haproxy-t2 (in the default list): final/lb -w 2 and
#                                HAProxy nbthread 2, every core of a
#                                2-core machine (which wrk shares)
#   BASELINE=/tmp/old/lb BALANCERS="final baseline haproxy" ...
#                                another build of final/lb beside this one,
#                                in the same rounds: what a change costs
#
# Every cell (a balancer at a load) is measured once per round, and the
# rounds go through all the cells in turn, so what else the machine does
# falls on every balancer alike; the spread between rounds is printed,
# so that noise shows. Each cell starts its balancer afresh, and reads
# its CPU time and peak memory from /proc (Linux). Loads: LOADS keep-
# alive clients, then CLOSE_LOADS clients that open a connection per
# request. Every balancer has one process and one thread, X-Forwarded-
# For, and (but pen and lesson 3) a pool of kept backend connections:
# HAProxy nbthread 1 with http-reuse safe, nginx one worker with an
# upstream keepalive. A balancer that does not come up, and any error
# wrk counts, make the script fail, not print a smaller table.
#
# Results: a table on stdout, ratios to HAProxy, and in tests/logs/bench/
# results.txt and chart.svg (req/s and p99 against clients, by gnuplot
# when it is installed).
set -u
ROUNDS=${ROUNDS:-2}
SECS=${RUN_SECONDS:-2}
LOADS=${LOADS:-10 50 100 200 400 800}
CLOSE_LOADS=${CLOSE_LOADS-10 100}
BALANCERS=${BALANCERS:-final haproxy nginx pen lesson3 final-w2 haproxy-t2}
me=bench
. "$(dirname "$0")/script.sh"
out=$here/logs/bench

for t in wrk nginx; do
	command -v $t >/dev/null || fail "needs $t (Debian: apt-get install $t)"
done
for b in $BALANCERS; do
	case $b in
	haproxy|pen|haproxy-t2) command -v ${b%-t2} >/dev/null ||
	    fail "needs ${b%-t2} (Debian: apt-get install ${b%-t2})";;
	final|lesson3|final-w2) [ -x "$top/${b%-w2}/lb" ] ||
	    fail "build ${b%-w2} first (make)";;
	baseline) [ -x "${BASELINE:-}" ] ||
	    fail "baseline needs BASELINE=path/to/another/final/lb";;
	nginx) ;;
	*) fail "unknown balancer $b";;
	esac
done
[ -r /proc/self/stat ] || fail "reads CPU time and memory from /proc (Linux)"
ulimit -n 20000 2>/dev/null || ulimit -n 8192 2>/dev/null
mkdir -p "$out"
[ -n "${CHART_ONLY:-}" ] || echo "params $ROUNDS $SECS" > "$out/results.txt"

# Ports below Linux's ephemeral range (32768 and up), where the
# TIME_WAIT sockets of connection-per-request runs cannot block a bind().
base=$((10000 + $$ % 20000))
b1=$((base + 1)) b2=$((base + 2)) lbport=$((base + 10))

measure() {
# The backends: nginx, one worker each, a 100-byte body, keep-alive for
# as long as the balancer likes.
body=$(printf '%0100d' 0)
for p in $b1 $b2; do
	mkdir -p "$tmp/be$p"
	cat > "$tmp/be$p/nginx.conf" <<EOF
worker_processes 1;
pid $tmp/be$p/nginx.pid;
error_log $tmp/be$p/error.log;
daemon off;
events { worker_connections 8192; }
http {
	access_log off;
	keepalive_requests 100000000;
	keepalive_timeout 300s;
	client_body_temp_path $tmp/be$p;
	server {
		listen 127.0.0.1:$p backlog=4096;
		location / { return 200 "$body"; }
		location = /nginx_status { stub_status; }
	}
}
EOF
	nginx -c "$tmp/be$p/nginx.conf" -p "$tmp/be$p" 2>"$tmp/be$p/err" &
	pids="$pids $!"
done

# Start balancer $1 on $lbport; its pid in $bpid.
start() {
	case $1 in
	final|baseline|final-w2)
		lb=$top/final/lb
		[ $1 = baseline ] && lb=$BASELINE
		w=1
		[ $1 = final-w2 ] && w=2
		"$lb" -l $lbport -b 127.0.0.1:$b1 -b 127.0.0.1:$b2 \
		    -m 1024 -w $w >/dev/null 2>"$tmp/$1.err" &
		;;
	lesson3)
		"$top/lesson3/lb" -l $lbport -b 127.0.0.1:$b1 \
		    -b 127.0.0.1:$b2 >/dev/null 2>"$tmp/lesson3.err" &
		;;
	haproxy|haproxy-t2)
		t=1
		[ $1 = haproxy-t2 ] && t=2
		cat > "$tmp/haproxy.cfg" <<EOF
global
	nbthread $t
	maxconn 4000
defaults
	mode http
	timeout connect 2s
	timeout client 30s
	timeout server 30s
	option forwardfor
	http-reuse safe
frontend fe
	bind 127.0.0.1:$lbport
	default_backend be
backend be
	balance roundrobin
	server b1 127.0.0.1:$b1
	server b2 127.0.0.1:$b2
EOF
		haproxy -f "$tmp/haproxy.cfg" -db >/dev/null 2>"$tmp/$1.err" &
		;;
	nginx)
		mkdir -p "$tmp/lbn"
		cat > "$tmp/lbn/nginx.conf" <<EOF
worker_processes 1;
pid $tmp/lbn/nginx.pid;
error_log $tmp/lbn/error.log;
daemon off;
events { worker_connections 8192; }
http {
	access_log off;
	client_body_temp_path $tmp/lbn;
	proxy_temp_path $tmp/lbn;
	upstream be {
		server 127.0.0.1:$b1;
		server 127.0.0.1:$b2;
		keepalive 1024;
	}
	server {
		listen 127.0.0.1:$lbport backlog=4096;
		location / {
			proxy_pass http://be;
			proxy_http_version 1.1;
			proxy_set_header Connection "";
			proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
		}
	}
}
EOF
		nginx -c "$tmp/lbn/nginx.conf" -p "$tmp/lbn" 2>"$tmp/nginx.err" &
		;;
	pen)
		# -r: round robin (not sticky), -H: X-Forwarded-For.
		pen -f -r -H -x 8192 -c 8192 127.0.0.1:$lbport 127.0.0.1:$b1 \
		    127.0.0.1:$b2 >/dev/null 2>"$tmp/pen.err" &
		;;
	esac
	bpid=$!
	i=0
	until curl -s -o /dev/null "http://127.0.0.1:$lbport/" 2>/dev/null; do
		i=$((i + 1))
		if [ $i -gt 50 ]; then
			sed 's/^/  /' "$tmp/$1.err" >&2 2>/dev/null
			fail "$1 never came up on port $lbport"
		fi
		sleep 0.1
	done
}

# Connections the two backends have accepted so far (nginx's stub_status).
accepts() {
	n=0
	for p in $b1 $b2; do
		a=$(curl -s "http://127.0.0.1:$p/nginx_status" |
		    awk 'NR == 3 { print $1 }')
		n=$((n + ${a:-0}))
	done
	echo $n
}

# User+system CPU of pids $@ and their children, in clock ticks.
cpu_ticks() {
	for p in "$@"; do cat "/proc/$p/stat"; done |
	    awk '{ t += $14 + $15 + $16 + $17 } END { print t }'
}

# One cell: balancer $1, $2 clients, keep-alive ($3 = ka) or a
# connection per request ($3 = close). Appends a line to results.txt.
# A select() balancer needs two descriptors a client (client, backend),
# all below FD_SETSIZE (1024): past 500 clients it cannot take them.
cell() {
	case $1 in
	final|baseline|lesson3) if [ "$2" -gt 500 ]; then
		echo "$1 $3 $2 skip" >> "$out/results.txt"
		return
	fi;;
	esac
	# -w 2: FD_SETSIZE limits each worker, so twice as many clients.
	start "$1"
	b=$1 n=$2 mode=$3
	# wrk drops a header with no space after its colon: "-H
	# Connection:close" measured keep-alive. wrk's arguments go in
	# "$@", a word each, whatever they hold.
	set -- "http://127.0.0.1:$lbport/"
	[ $mode = close ] && set -- -H 'Connection: close' "$@"
	# The processes that do the work: nginx's worker, not its master;
	# final-w2's master and both workers (CPU and peak RSS summed).
	wpid=$bpid
	if [ "$b" = nginx ]; then
		wpid=$(pgrep -P $bpid | head -1)
	elif [ "$b" = final-w2 ]; then
		wpid="$bpid $(pgrep -P $bpid | tr '\n' ' ')"
	fi
	a0=$(accepts)
	c0=$(cpu_ticks $wpid)
	wrk -t1 -c"$n" -d"${SECS}s" --latency "$@" > "$tmp/wrk" 2>&1
	c1=$(cpu_ticks $wpid)
	a1=$(accepts)
	rss=$(for p in $wpid; do cat /proc/$p/status; done |
	    awk '/^VmHWM/ { t += $2 } END { print t }')
	kill $bpid 2>/dev/null
	wait $bpid 2>/dev/null
	awk -v b="$b" -v n="$n" -v mode="$mode" -v cpu=$((c1 - c0)) \
	    -v hz="$(getconf CLK_TCK)" -v rss="$rss" -v conns=$((a1 - a0 - 2)) '
	function ms(v) {	# wrk prints 512.00us, 1.20ms, 2.01s
		if (v ~ /us$/) return v / 1000
		if (v ~ /ms$/) return v + 0
		if (v ~ /s$/) return v * 1000
		return v
	}
	/Requests\/sec/ { rps = $2 }
	/requests in/ { reqs = $1 }
	/^ +50%/ { p50 = ms($2) }
	/^ +99%/ { p99 = ms($2) }
	/Non-2xx/ { bad += $NF }
	/Socket errors/ { gsub(",", ""); bad += $4 + $6 + $8 + $10 }
	END {
		printf "%s %s %d %.0f %.3f %.3f %.3f %d %d %.1f\n", b, mode, n,
		    rps, p50, p99, (reqs > 0 ? cpu / hz * 1000 / reqs : 0), rss,
		    bad, (reqs > 0 ? conns * 1000 / reqs : 0)
	}' "$tmp/wrk" >> "$out/results.txt"
}

# Let the backends come up, then the rounds.
sleep 0.5
rounds
}
rounds() {
r=1
while [ $r -le "$ROUNDS" ]; do
	echo "== round $r of $ROUNDS" >&2
	for n in $LOADS; do
		for b in $BALANCERS; do
			cell $b $n ka
		done
	done
	for n in $CLOSE_LOADS; do
		for b in $BALANCERS; do
			cell $b $n close
		done
	done
	r=$((r + 1))
done
}

# CHART_ONLY=1: the table and the chart again, from the last results.
[ -n "${CHART_ONLY:-}" ] || measure

# The table: per cell the median of the rounds (and their range for
# req/s), ratios to HAProxy's median.
awk '
function med(a, k,   n, i, j, t, v) {
	n = cnt[k]
	for (i = 1; i <= n; i++) v[i] = a[k, i]
	for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++)
		if (v[j] < v[i]) { t = v[i]; v[i] = v[j]; v[j] = t }
	return n % 2 ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2
}
$1 == "params" { rounds = $2; secs = $3; next }
$4 == "skip" {
	if (!seen[$2 " " $3]++) order[++nrow] = $2 " " $3
	if (!bseen[$1]++) bal[++nbal] = $1
	skip[$2 " " $3 " " $1] = 1
	next
}
{
	k = $2 " " $3 " " $1
	i = ++cnt[k]
	rps[k, i] = $4; p50[k, i] = $5; p99[k, i] = $6; cpu[k, i] = $7
	rss[k, i] = $8; bad[k] += $9; cpk[k, i] = $10
	if (!(k in lo) || $4 < lo[k]) lo[k] = $4
	if (!(k in hi) || $4 > hi[k]) hi[k] = $4
	if (!seen[$2 " " $3]++) order[++nrow] = $2 " " $3
	if (!bseen[$1]++) bal[++nbal] = $1
	errors += $9
}
END {
	printf "wrk -t1 -d%ss, 2 nginx backends (100-byte body), %d rounds " \
	    "taken in turn; medians, req/s range in brackets\n", secs, rounds
	printf "%-9s %5s %-8s %8s %-17s %5s %8s %8s %8s %7s %6s %8s\n",
	    "clients", "", "lb", "req/s", "(range)", "x hap", "p50 ms",
	    "p99 ms", "cpu s/1k", "x hap", "MB", "conn/1k"
	for (r = 1; r <= nrow; r++) {
		split(order[r], m, " ")
		h = order[r] " haproxy"
		for (b = 1; b <= nbal; b++) {
			k = order[r] " " bal[b]
			if (k in skip) {
				printf "%-9s %5s %-8s %8s (over FD_SETSIZE: 2 " \
				    "descriptors a client)\n", b == 1 ? m[2] : "",
				    b == 1 ? m[1] : "", bal[b], "-"
				continue
			}
			if (!(k in cnt)) continue
			x = (h in cnt) && med(rps, h) > 0 ? med(rps, k) / med(rps, h) : 0
			y = (h in cnt) && med(cpu, h) > 0 ? med(cpu, k) / med(cpu, h) : 0
			printf "%-9s %5s %-8s %8.0f (%6.0f-%6.0f) %5.2f %8.2f " \
			    "%8.2f %8.3f %7.2f %6.1f %8.1f%s\n", b == 1 ? m[2] : "",
			    b == 1 ? m[1] : "", bal[b], med(rps, k), lo[k], hi[k],
			    x, med(p50, k), med(p99, k), med(cpu, k), y,
			    med(rss, k) / 1024, med(cpk, k),
			    bad[k] ? "  ERRORS " bad[k] : ""
		}
	}
	exit errors > 0
}' "$out/results.txt" > "$out/table.txt"
# Not through a pipe into tee: a pipeline's status is tee's.
status=$?
cat "$out/table.txt"

# The chart: req/s and p99 against keep-alive clients, one line each,
# the mean of the rounds (the table gives medians).
if command -v gnuplot >/dev/null; then
	for b in $BALANCERS; do
		awk -v b=$b '$1 == b && $2 == "ka" && $4 != "skip" && NF > 4 {
		    print $3, $4, $6 }' \
		    "$out/results.txt" | sort -n | awk '
		{ k = $1; n[k]++; r[k, n[k]] = $2; p[k, n[k]] = $3;
		  if (!(k in s)) o[++m] = k; s[k] = 1 }
		END { for (i = 1; i <= m; i++) { k = o[i]; a = 0; q = 0
			for (j = 1; j <= n[k]; j++) { a += r[k, j]; q += p[k, j] }
			print k, a / n[k], q / n[k] } }' > "$tmp/plot.$b"
	done
	{
		echo "set terminal svg size 900,420 dynamic font 'sans,11'"
		echo "set output '$out/chart.svg'"
		echo "set multiplot layout 1,2"
		echo "set logscale x 2; set xlabel 'keep-alive clients'; set grid"
		echo "set key below"
		printf "set title 'requests per second'; plot"
		sep=
		for b in $BALANCERS; do
			printf "%s '%s' using 1:2 with linespoints title '%s'" \
			    "$sep" "$tmp/plot.$b" "$b"
			sep=,
		done
		echo
		printf "set title 'p99 latency (ms)'; set logscale y; plot"
		sep=
		for b in $BALANCERS; do
			printf "%s '%s' using 1:3 with linespoints title '%s'" \
			    "$sep" "$tmp/plot.$b" "$b"
			sep=,
		done
		echo
		echo "unset multiplot"
	} > "$tmp/chart.gp"
	gnuplot "$tmp/chart.gp" 2>"$tmp/gnuplot.err" ||
	    sed 's/^/  gnuplot: /' "$tmp/gnuplot.err" >&2
fi
exit $status
