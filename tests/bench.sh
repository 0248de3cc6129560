#!/bin/sh
# bench.sh: final/lb beside HAProxy, nginx, pen and lesson 3, in front of
# the same two nginx backends, measured with wrk, in several traffic
# shapes:
#
#   ka     keep-alive GETs of a 100-byte body: LOADS clients (default
#          10 100 800; FULL=1: 10 50 100 200 400 800)
#   close  GETs with "Connection: close", a TCP connection per request:
#          CLOSE_LOADS (100; FULL: 10 100)
#   post   keep-alive POSTs of a 200-byte body: POST_LOADS (50; FULL: 10
#          50 400)
#   down   GETs of a BULK_MB (16) MiB body: BULK_LOADS (1; FULL: 1 4);
#          MB/s and CPU per GB
#   up     POSTs of a BULK_MB MiB body: BULK_LOADS
#   idle   IDLE_LOADS (1000 10000; FULL: 1000 5000 10000) keep-alive
#          clients that send one request and then nothing, beside
#          IDLE_BUSY (50) busy ones: the busy ones' req/s and latency,
#          the balancer's peak memory
#   hetero keep-alive GETs over two backends of their own (tests/backend),
#          one answering in HETERO_MS (20) ms, one at once: HETERO_LOADS
#          (100) clients; the share of requests the slow one took
#   burst  BURST_LOADS (1000) keep-alive clients arriving at once at two
#          backends of their own (tests/backend, BURST_MS (2) ms a
#          response, so that a backend does hold 20 at once: an instant
#          one never does), each limited to BURST_MAXCONN (20) requests
#          in flight by the balancer, the rest queued: nothing may be
#          dropped; the longest wait in the queue, the most requests a
#          backend saw at once
#
# Balancers: BALANCERS for ka and close (default final haproxy nginx
# pen lesson3 final-w2 haproxy-t2), SHAPE_BALANCERS for post, down and
# up (default final haproxy nginx pen; BALANCERS when that is set, or
# with FULL), IDLE_BALANCERS for idle (default final-poll haproxy nginx),
# HETERO_BALANCERS for hetero (default final-rr final-least haproxy-rr
# haproxy-leastconn: lb -B rr, -B least, HAProxy balance roundrobin,
# leastconn), BURST_BALANCERS for burst (default final haproxy: lb -e
# poll -m 2000 with ,maxconn=N on each -b and its queue's default -t
# queue=5000; HAProxy with maxconn N on each server, timeout queue 5s).
#
#   sh tests/bench.sh            the default: about 5 minutes on 2
#                                cores (hetero and burst: 30 s of it)
#   FULL=1 sh tests/bench.sh     every load above, every balancer in
#                                every shape: about 11 minutes
#   ROUNDS=3 RUN_SECONDS=5 sh tests/bench.sh     longer, steadier
#   LOADS="10 100" CLOSE_LOADS= POST_LOADS= BULK_LOADS= IDLE_LOADS=
#       HETERO_LOADS= BURST_LOADS= BALANCERS="final haproxy" ...
#                                a part; an empty list skips a shape
#   LOADS= CLOSE_LOADS= POST_LOADS= BULK_LOADS= IDLE_LOADS= ...
#                                hetero and burst alone
#   BULK_MB=64 ...               a bigger body for down and up
#   CHART_ONLY=1 sh tests/bench.sh   the table and chart of the last run
#   final-w2 and haproxy-t2 (in the default list): final/lb -w 2 and
#                                HAProxy nbthread 2, every core of a
#                                2-core machine (which wrk shares)
#   final-poll (IDLE_BALANCERS): final/lb -e poll -m 12000 -t idle=30000
#                                (HAProxy's timeout client here)
#   BASELINE=/tmp/old/lb BALANCERS="final baseline haproxy" ...
#                                another build of final/lb beside this one,
#                                in the same rounds: what a change costs
#
# Every cell (a balancer, a shape, a load) is measured once per round,
# and the rounds go through all the cells in turn, so what else the
# machine does falls on every balancer alike; the spread between rounds
# is printed, so that noise shows. Each cell starts its balancer afresh,
# and reads its CPU time and peak memory from /proc (Linux). Every
# balancer has one process and one thread, X-Forwarded-For, and (but pen
# and lesson 3) a pool of kept backend connections: HAProxy nbthread 1
# with http-reuse safe, nginx one worker with an upstream keepalive.
#
# Each cell checks that it measured what its name says: the client
# connections the balancer accepted (close: about one a request; keep-
# alive: about one a client), that a POST arrived as a POST of its
# length (the backends refuse anything else), that an upload's bytes all
# reached a backend, that the idle clients stayed connected. A check
# that fails, a balancer that does not come up, and any error wrk
# counts make the script fail, not print a smaller table. hetero checks
# that both backends answered; burst, that no backend ever had more than
# BURST_MAXCONN requests at once (tests/backend's inflight-peak) and
# that the queue was used (its longest wait above 0: lb's status JSON,
# HAProxy's qtime_max).
#
# Run as root, the script moves itself into a network namespace of its
# own (unshare -n), where the kernel's count of accepted connections
# (/proc/net/snmp, PassiveOpens) is this run's alone; otherwise that
# count is system-wide and the keep-alive check is left out (as with
# BENCH_NETNS=0, which keeps it in the machine's namespace).
#
# Results: a table on stdout, ratios to HAProxy, and in tests/logs/bench/
# results.txt and chart.svg (keep-alive req/s and p99 against clients,
# by gnuplot when it is installed).
set -u
ROUNDS=${ROUNDS:-2}
SECS=${RUN_SECONDS:-2}
# Set BALANCERS, and the other shapes follow it; else they leave out
# lesson 3 and the two-core runs, unless FULL.
[ -n "${BALANCERS:-}" ] && SHAPE_BALANCERS=${SHAPE_BALANCERS:-$BALANCERS}
BALANCERS=${BALANCERS:-final haproxy nginx pen lesson3 final-w2 haproxy-t2}
if [ -n "${FULL:-}" ]; then
	LOADS=${LOADS-10 50 100 200 400 800}
	CLOSE_LOADS=${CLOSE_LOADS-10 100}
	POST_LOADS=${POST_LOADS-10 50 400}
	BULK_LOADS=${BULK_LOADS-1 4}
	IDLE_LOADS=${IDLE_LOADS-1000 5000 10000}
	SHAPE_BALANCERS=${SHAPE_BALANCERS:-$BALANCERS}
else
	LOADS=${LOADS-10 100 800}
	CLOSE_LOADS=${CLOSE_LOADS-100}
	POST_LOADS=${POST_LOADS-50}
	BULK_LOADS=${BULK_LOADS-1}
	IDLE_LOADS=${IDLE_LOADS-1000 10000}
	SHAPE_BALANCERS=${SHAPE_BALANCERS:-final haproxy nginx pen}
fi
IDLE_BALANCERS=${IDLE_BALANCERS:-final-poll haproxy nginx}
HETERO_LOADS=${HETERO_LOADS-100}
HETERO_BALANCERS=${HETERO_BALANCERS:-final-rr final-least haproxy-rr haproxy-leastconn}
HETERO_MS=${HETERO_MS:-20}
BURST_LOADS=${BURST_LOADS-1000}
BURST_BALANCERS=${BURST_BALANCERS:-final haproxy}
BURST_MS=${BURST_MS:-2}
BURST_MAXCONN=${BURST_MAXCONN:-20}
IDLE_BUSY=${IDLE_BUSY:-50}
# 16 MiB: beyond every buffer on the way, yet tens of bodies a run, so
# that one body more or less in a run moves MB/s by a few percent.
BULK_MB=${BULK_MB:-16}
POST_BYTES=200

# Into a network namespace of our own, before script.sh makes its
# scratch folder (exec would leave it behind): there the connection
# counters count only us. Loopback starts down in a new namespace.
if [ -z "${BENCH_NETNS:-}" ] && [ -z "${CHART_ONLY:-}" ] &&
    [ "$(id -u)" = 0 ] && command -v ip >/dev/null &&
    unshare -n true 2>/dev/null; then
	BENCH_NETNS=1
	export BENCH_NETNS
	exec unshare -n sh "$0" "$@"
fi
# The scratch folder in memory where there is one: nginx spools each
# uploaded body there, and a disk would measure the disk.
[ -d /dev/shm ] && [ -w /dev/shm ] && TMPDIR=/dev/shm && export TMPDIR
me=bench
. "$(dirname "$0")/script.sh"
out=$here/logs/bench
private=0
if [ "${BENCH_NETNS:-}" = 1 ]; then
	ip link set lo up || fail "cannot bring up loopback in the namespace"
	private=1
fi

for t in wrk nginx curl ss; do
	command -v $t >/dev/null || fail "needs $t (Debian: apt-get install $t)"
done
# What the shapes that run need: a shape with no loads needs nothing.
need=
[ -n "$LOADS$CLOSE_LOADS" ] && need=$BALANCERS
[ -n "$POST_LOADS$BULK_LOADS" ] && need="$need $SHAPE_BALANCERS"
[ -n "$IDLE_LOADS" ] && need="$need $IDLE_BALANCERS"
[ -n "$HETERO_LOADS" ] && need="$need $HETERO_BALANCERS"
[ -n "$BURST_LOADS" ] && need="$need $BURST_BALANCERS"
for b in $need; do
	case $b in
	haproxy|haproxy-*) command -v haproxy >/dev/null ||
	    fail "needs haproxy (Debian: apt-get install haproxy)";;
	pen) command -v pen >/dev/null ||
	    fail "needs pen (Debian: apt-get install pen)";;
	final|lesson3|final-*) [ -x "$top/${b%-*}/lb" ] ||
	    fail "build ${b%-*} first (make)";;
	baseline) [ -x "${BASELINE:-}" ] ||
	    fail "baseline needs BASELINE=path/to/another/final/lb";;
	nginx) ;;
	*) fail "unknown balancer $b";;
	esac
done
[ -z "$HETERO_LOADS$BURST_LOADS" ] || [ -x "$here/backend" ] ||
    fail "hetero and burst need tests/backend (make -C tests programs)"
[ -r /proc/self/stat ] || fail "reads CPU time and memory from /proc (Linux)"
[ -r /proc/net/snmp ] || fail "counts connections in /proc/net/snmp (Linux)"
ulimit -n 20000 2>/dev/null || ulimit -n 8192 2>/dev/null
mkdir -p "$out"
if [ -z "${CHART_ONLY:-}" ]; then
	echo "params $ROUNDS $SECS $private $POST_BYTES $BULK_MB $IDLE_BUSY" \
	    "$HETERO_MS $BURST_MS $BURST_MAXCONN" > "$out/results.txt"
	[ $private = 1 ] || echo "$me: no network namespace of its own: connection" \
	    "counts are system-wide, the keep-alive check is off" >&2
fi

# Ports below Linux's ephemeral range (32768 and up), where the
# TIME_WAIT sockets of connection-per-request runs cannot block a bind().
base=$((10000 + $$ % 20000))
b1=$((base + 1)) b2=$((base + 2)) b3=$((base + 3)) b4=$((base + 4))
lbport=$((base + 10)) statport=$((base + 11))
# The two backends a cell uses (hetero and burst: b3 and b4), and what
# start() adds to each on the balancer's side (burst: the limit).
be1=$b1 be2=$b2 lbopt= hopt=

measure() {
# nginx's workers run as nobody when root starts it: they must reach the
# big file and their spool folders.
chmod 755 "$tmp"
head -c $((BULK_MB * 1048576)) /dev/zero > "$tmp/big"
# The backends: nginx, one worker each, keep-alive for as long as the
# balancer likes. / answers a 100-byte body; /post only a POST of
# POST_BYTES (else 405 or 400, which wrk counts as errors); /big the big
# file; /upload reads a whole body, logs its length and answers. (A bare
# `return 200` answers before the body is in, and wrk, still sending,
# never sends its next request: so nginx buffers the body, then asks
# itself for / without it.)
body=$(printf '%0100d' 0)
for p in $b1 $b2; do
	mkdir -p "$tmp/be$p"
	cat > "$tmp/be$p/nginx.conf" <<EOF2
worker_processes 1;
pid $tmp/be$p/nginx.pid;
error_log $tmp/be$p/error.log;
daemon off;
events { worker_connections 16384; }
http {
	access_log off;
	keepalive_requests 100000000;
	keepalive_timeout 300s;
	sendfile on;
	client_max_body_size 0;
	client_body_temp_path $tmp/be$p;
	log_format length \$request_length;
	upstream self {
		server 127.0.0.1:$p;
		keepalive 8;
	}
	server {
		listen 127.0.0.1:$p backlog=4096;
		location / { return 200 "$body"; }
		location = /post {
			if (\$request_method != POST) { return 405; }
			if (\$http_content_length != $POST_BYTES) { return 400; }
			return 200 "$body";
		}
		location = /big { alias $tmp/big; }
		location = /upload {
			access_log $tmp/be$p/upload.log length;
			proxy_pass http://self/;
			proxy_pass_request_body off;
			proxy_set_header Content-Length "";
			proxy_http_version 1.1;
			proxy_set_header Connection "";
		}
		location = /nginx_status { stub_status; }
	}
}
EOF2
	nginx -c "$tmp/be$p/nginx.conf" -p "$tmp/be$p" 2>"$tmp/be$p/err" &
	pids="$pids $!"
done

# Start balancer $1 on $lbport, ready for $clients clients; its pid in
# $bpid. Below a few thousand clients the limits stay as they always
# were (memory figures comparable from run to run); above, each gets
# room for them.
start() {
	lim=8192
	[ $((2 * clients + 1000)) -gt $lim ] && lim=$((2 * clients + 1000))
	hmax=4000
	[ $((clients + 1000)) -gt $hmax ] && hmax=$((clients + 1000))
	case $1 in
	final|baseline|final-w2|final-rr|final-least)
		lb=$top/final/lb
		[ $1 = baseline ] && lb=$BASELINE
		w=1
		[ $1 = final-w2 ] && w=2
		# burst: 1,000 clients, past select()'s 1024 descriptors;
		# the status page for the queue's longest wait.
		m=1024 more=
		case $1 in
		final-rr) more="-B rr";;
		final-least) more="-B least";;
		esac
		[ $shape = burst ] && m=2000 more="-e poll -a $statport"
		"$lb" -l $lbport -b 127.0.0.1:$be1$lbopt -b 127.0.0.1:$be2$lbopt \
		    -m $m -w $w $more >/dev/null 2>"$tmp/$1.err" &
		;;
	final-poll)
		# An idle client may wait as long as HAProxy's (timeout
		# client 30s): lb's default (-t idle 15 s) would close the
		# first of 10,000 idle ones before the busy run is over.
		"$top/final/lb" -e poll -l $lbport -b 127.0.0.1:$b1 \
		    -b 127.0.0.1:$b2 -m 12000 -t idle=30000 >/dev/null \
		    2>"$tmp/$1.err" &
		;;
	lesson3)
		"$top/lesson3/lb" -l $lbport -b 127.0.0.1:$b1 \
		    -b 127.0.0.1:$b2 >/dev/null 2>"$tmp/lesson3.err" &
		;;
	haproxy|haproxy-t2|haproxy-rr|haproxy-leastconn)
		t=1
		[ $1 = haproxy-t2 ] && t=2
		how=roundrobin
		[ $1 = haproxy-leastconn ] && how=leastconn
		# burst: a request waits for a server slot as long as in
		# lb (-t queue's default), and a stats page for qtime_max.
		hq=
		[ $shape = burst ] && hq="	timeout queue 5s
listen stats
	bind 127.0.0.1:$statport
	stats enable
	stats uri /stats"
		# HAProxy counts two descriptors a connection and will not
		# start short of them (strict-limits); idle clients need no
		# backend connection each, so let it start with what we have.
		hfd=
		[ $hmax -gt 4000 ] && hfd="	no strict-limits"
		cat > "$tmp/haproxy.cfg" <<EOF2
global
	nbthread $t
	maxconn $hmax
$hfd
defaults
	mode http
	timeout connect 2s
	timeout client 30s
	timeout server 30s
	option forwardfor
	http-reuse safe
$hq
frontend fe
	bind 127.0.0.1:$lbport
	default_backend be
backend be
	balance $how
	server b1 127.0.0.1:$be1$hopt
	server b2 127.0.0.1:$be2$hopt
EOF2
		haproxy -f "$tmp/haproxy.cfg" -db >/dev/null 2>"$tmp/$1.err" &
		;;
	nginx)
		# Bodies stream through, as through the others: no request
		# buffering, no spooling of a response to disk.
		mkdir -p "$tmp/lbn"
		cat > "$tmp/lbn/nginx.conf" <<EOF2
worker_processes 1;
pid $tmp/lbn/nginx.pid;
error_log $tmp/lbn/error.log;
daemon off;
events { worker_connections $lim; }
http {
	access_log off;
	client_max_body_size 0;
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
			proxy_request_buffering off;
			proxy_max_temp_file_size 0;
		}
	}
}
EOF2
		nginx -c "$tmp/lbn/nginx.conf" -p "$tmp/lbn" 2>"$tmp/nginx.err" &
		;;
	pen)
		# -r: round robin (not sticky), -H: X-Forwarded-For.
		pen -f -r -H -x $lim -c $lim 127.0.0.1:$lbport 127.0.0.1:$b1 \
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

# Line $2 of tests/backend's /control/stats on port $1: connections
# (this call's own among them), requests (health checks and this call
# not), inflight-peak.
tbstat() {
	curl -s "http://127.0.0.1:$1/control/stats" |
	    awk -v k=$2 '$1 == k { print $2 }'
}

# 1: the connections the cell's backends accepted, 3: the requests they
# answered, summed; from nginx's stub_status (its line 3), or for hetero
# and burst from tests/backend. Each call is itself one connection to
# each backend (and one request to each nginx).
backends() {
	n=0
	for p in $be1 $be2; do
		case $shape in
		hetero|burst) a=$(tbstat $p \
		    $([ $1 = 1 ] && echo connections || echo requests));;
		*) a=$(curl -s "http://127.0.0.1:$p/nginx_status" |
		    awk -v f=$1 'NR == 3 { print $f }');;
		esac
		n=$((n + ${a:-0}))
	done
	echo $n
}

# hetero and burst: two tests/backend processes on b3 and b4, answering
# after $1 and $2 ms, started afresh for each cell (inflight-peak counts
# from their start); their pids in $tbpids.
tb_start() {
	"$here/backend" -l $b3 -d $1 -z 100 -q 2>"$tmp/tb3.err" &
	tbpids=$!
	"$here/backend" -l $b4 -d $2 -z 100 -q 2>"$tmp/tb4.err" &
	tbpids="$tbpids $!"
	i=0
	until [ -n "$(tbstat $b3 requests)" ] &&
	    [ -n "$(tbstat $b4 requests)" ]; do
		i=$((i + 1))
		[ $i -gt 50 ] && fail "tests/backend never came up on $b3, $b4"
		sleep 0.1
	done
}

# The longest any request waited in balancer $1's queue, in ms, read
# from its status page: lb's queue_longest_ms, HAProxy's qtime_max (the
# most of its backend's and servers' rows); - when there is none.
queue_longest() {
	case $1 in
	final) curl -s "http://127.0.0.1:$statport/status.json" |
	    tr ',{}' '\n\n\n' |
	    awk -F: '$1 ~ /"queue_longest_ms"/ { printf "%.0f", $2; f = 1 }
		END { if (!f) print "-" }';;
	haproxy) curl -s "http://127.0.0.1:$statport/stats;csv" | awk -F, '
	    NR == 1 { for (i = 1; i <= NF; i++) if ($i == "qtime_max") c = i
		next }
	    c && $1 == "be" && $c != "" { f = 1; if ($c > m) m = $c }
	    END { if (f) print m + 0; else print "-" }';;
	*) echo -;;
	esac
}

# Connections accepted by anyone on this machine (or namespace) so far.
opens() {
	awk '$1 == "Tcp:" && !f { for (i = 2; i <= NF; i++)
		if ($i == "PassiveOpens") f = i; next }
	    $1 == "Tcp:" { print $f }' /proc/net/snmp
}

# Client connections open to the balancer.
held() {
	ss -Htn state established "( dport = :$lbport )" | wc -l
}

# User+system CPU of pids $@ and their children, in clock ticks.
cpu_ticks() {
	for p in "$@"; do cat "/proc/$p/stat"; done |
	    awk '{ t += $14 + $15 + $16 + $17 } END { print t }'
}

# Does final/lb have a poll() multiplexer (-e) yet?
has_poll() {
	"$top/final/lb" -h 2>&1 | grep -q '^ *-e '
}

# Why balancer $1 cannot take $clients clients, if it cannot. A select()
# balancer needs two descriptors a client (client, backend), all below
# FD_SETSIZE (1024): past 500 clients it cannot take them; -w 2 has
# two processes, so twice as many.
cannot() {
	case $shape-$1 in
	burst-final) has_poll || echo nopoll; return;;
	esac
	case $1 in
	final|baseline|lesson3|final-rr|final-least)
	    [ "$clients" -gt 500 ] && echo fdset;;
	final-w2) [ "$clients" -gt 1000 ] && echo fdset;;
	final-poll) has_poll || echo nopoll;;
	pen) [ $((2 * clients + 100)) -gt "$(ulimit -n)" ] && echo ulimit;;
	# A descriptor a client, and room for a pool of backend connections.
	*) [ $((clients + 2000)) -gt "$(ulimit -n)" ] && echo ulimit;;
	esac
}

# Hold $1 idle clients open to the balancer: a wrk in the background
# whose connections send one request between them each, then wait; its
# pid in $ipid. Waits until the backends have answered those requests,
# at most 10 seconds (every balancer here needs 2 or 3 for 10,000);
# fails if they have answered fewer than 99% of them (HAProxy with
# 10,000 sometimes leaves a few stuck for longer), the count in $served.
idle_start() {
	r0=$(backends 3)
	wrk -t1 -c"$1" -d$((SECS + 120))s --timeout 60s \
	    -s "$here/bench.lua" "http://127.0.0.1:$lbport/" -- idle "$1" \
	    > "$tmp/idle" 2>&1 &
	ipid=$!
	# Each look is two requests of its own; health checks add a few.
	i=0
	while [ $i -lt 100 ]; do
		served=$(($(backends 3) - r0 - 2 * i))
		[ $served -ge "$1" ] && return 0
		i=$((i + 1))
		sleep 0.1
	done
	[ $served -ge $(($1 - $1 / 100)) ]
}

# One cell: balancer $1, shape $2, $3 clients (idle: $3 idle clients
# and IDLE_BUSY busy ones). Appends a line to results.txt.
cell() {
	b=$1 shape=$2 n=$3 busy=$3 clients=$3
	if [ $shape = idle ]; then
		busy=$IDLE_BUSY
		clients=$((n + busy))
	fi
	why=$(cannot $b)
	if [ -n "$why" ]; then
		echo "$b $shape $n skip $why" >> "$out/results.txt"
		return
	fi
	be1=$b1 be2=$b2 lbopt= hopt= tbpids=
	case $shape in
	hetero) be1=$b3 be2=$b4
		tb_start $HETERO_MS 0;;
	burst) be1=$b3 be2=$b4
		lbopt=,maxconn=$BURST_MAXCONN hopt=" maxconn $BURST_MAXCONN"
		tb_start $BURST_MS $BURST_MS;;
	esac
	start $b
	# The processes that do the work: nginx's worker, not its master;
	# final-w2's master and both workers (CPU and peak RSS summed).
	wpid=$bpid
	if [ $b = nginx ]; then
		wpid=$(pgrep -P $bpid | head -1)
	elif [ $b = final-w2 ]; then
		wpid="$bpid $(pgrep -P $bpid | tr '\n' ' ')"
	fi
	fault=-
	if [ $shape = idle ]; then
		idle_start $n || fault=idle-unserved:$served
		[ "$(held)" -ge $n ] || fault=idle-unconnected
	fi
	# wrk's arguments, each a word whatever it holds: options, the
	# URL, then what bench.lua is told.
	url=http://127.0.0.1:$lbport
	case $shape in
	ka|idle|hetero) set -- "$url/";;
	# A request may wait in the queue up to its timeout (5 s): the
	# balancer's 503 then, not wrk giving up first, is what counts.
	burst) set -- --timeout 10s "$url/";;
	close) set -- -H 'Connection: close' "$url/";;
	post) set -- "$url/post" -- post $POST_BYTES;;
	down) set -- --timeout 60s "$url/big";;
	up) set -- --timeout 60s "$url/upload" -- post $((BULK_MB * 1048576))
	    for p in $b1 $b2; do : > "$tmp/be$p/upload.log"; done;;
	esac
	# Counted outside the window of connection counts below.
	[ $shape = hetero ] && slow0=$(tbstat $b3 requests) r0=$(backends 3)
	s0=$(opens)
	a0=$(backends 1)
	c0=$(cpu_ticks $wpid)
	wrk -t1 -c"$busy" -d"${SECS}s" -s "$here/bench.lua" "$@" \
	    > "$tmp/wrk" 2>&1
	c1=$(cpu_ticks $wpid)
	a1=$(backends 1)
	s1=$(opens)
	[ $shape = hetero ] && slow1=$(tbstat $b3 requests) r1=$(backends 3)
	# hetero: the share of the requests the slow backend answered;
	# burst: the longest wait in the queue and the most requests a
	# backend had at once.
	share=- qms=- peak=-
	if [ $shape = hetero ]; then
		share=$(((slow1 - slow0) * 100 / (r1 - r0 > 0 ? r1 - r0 : 1)))
		[ $((slow1 - slow0)) -gt 0 ] && [ $((slow1 - slow0)) -lt \
		    $((r1 - r0)) ] || fault=backend-unused
	fi
	if [ $shape = burst ]; then
		qms=$(queue_longest ${b%%-*})
		peak=$(for p in $b3 $b4; do tbstat $p inflight-peak; done |
		    sort -n | tail -1)
		[ "$peak" -le $BURST_MAXCONN ] || fault=over-maxconn:$peak
		[ "$qms" = - ] || [ "$qms" -gt 0 ] || fault=queue-unused
	fi
	rss=$(for p in $wpid; do cat /proc/$p/status; done |
	    awk '/^VmHWM/ { t += $2 } END { print t }')
	got=0
	if [ $shape = up ]; then
		got=$(cat "$tmp/be$b1/upload.log" "$tmp/be$b2/upload.log" |
		    awk '{ t += $1 } END { printf "%.0f", t }')
	fi
	if [ $shape = idle ]; then
		[ "$(held)" -ge $n ] || fault=idle-dropped
		kill $ipid 2>/dev/null
		wait $ipid 2>/dev/null
	fi
	kill $bpid $tbpids 2>/dev/null
	wait $bpid $tbpids 2>/dev/null
	grep -q '^bench ' "$tmp/wrk" || sed 's/^/  wrk: /' "$tmp/wrk" >&2
	# Backend connections in the window: the balancer's, and the two of
	# each backends() call before it ends (a0 counted its own). Client
	# connections: every accept in the window but the backends', and
	# but the one wrk makes first to test the address.
	awk -v b=$b -v shape=$shape -v n=$n -v cpu=$((c1 - c0)) \
	    -v hz="$(getconf CLK_TCK)" -v rss="$rss" -v conns=$((a1 - a0 - 2)) \
	    -v cli=$((s1 - s0 - (a1 - a0 + 2) - 1)) -v fault=$fault \
	    -v size=$((BULK_MB * 1048576)) -v got="$got" -v qms=$qms \
	    -v share=$share -v peak=$peak '
	$1 == "bench" { reqs = $2; bytes = $3; us = $4; p50 = $5 / 1000
		p99 = $6 / 1000; bad = $7 + $8; seen = 1 }
	END {
		if (!seen) bad = 1
		if (shape == "up") {
			# Every body wrk finished went whole to a backend.
			if (got < reqs * size) fault = "upload-short"
			bytes = reqs * size
		}
		k = reqs > 0 ? 1000 / reqs : 0
		gb = bytes / 1e9
		printf "%s %s %d %.0f %.3f %.3f %.4f %d %d %.1f %.1f %.0f " \
		    "%.3f %s %d %d %s %s %s\n", b, shape, n,
		    (us > 0 ? reqs * 1e6 / us : 0),
		    p50, p99, cpu / hz * k, rss, bad, conns * k, cli * k,
		    (us > 0 ? bytes / us : 0), (gb > 0 ? cpu / hz / gb : 0),
		    fault, cli, reqs, qms, share, peak
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
	for shape in ka close post down up idle hetero burst; do
		case $shape in
		ka) loads=$LOADS;;
		close) loads=$CLOSE_LOADS;;
		post) loads=$POST_LOADS;;
		down|up) loads=$BULK_LOADS;;
		idle) loads=$IDLE_LOADS;;
		hetero) loads=$HETERO_LOADS;;
		burst) loads=$BURST_LOADS;;
		esac
		case $shape in
		ka|close) list=$BALANCERS;;
		post|down|up) list=$SHAPE_BALANCERS;;
		idle) list=$IDLE_BALANCERS;;
		hetero) list=$HETERO_BALANCERS;;
		burst) list=$BURST_BALANCERS;;
		esac
		for n in $loads; do
			for b in $list; do
				cell $b $shape $n
			done
		done
	done
	r=$((r + 1))
done
}

# CHART_ONLY=1: the table and the chart again, from the last results.
[ -n "${CHART_ONLY:-}" ] || measure

# The table: per cell the median of the rounds (and their range for
# req/s or MB/s), ratios to HAProxy's median; then what failed.
awk '
function med(a, k,   n, i, j, t, v) {
	n = cnt[k]
	for (i = 1; i <= n; i++) v[i] = a[k, i]
	for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++)
		if (v[j] < v[i]) { t = v[i]; v[i] = v[j]; v[j] = t }
	return n % 2 ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2
}
function row(s, n) {
	if (!seen[s " " n]++) order[++nrow] = s " " n
}
function wrong(k, why) {
	if (index(" " faults[k] " ", " " why " ") == 0) faults[k] = faults[k] " " why
}
$1 == "params" { rounds = $2; secs = $3; private = $4; postb = $5
	bulkmb = $6; busy = $7; hms = $8; bms = $9; bmax = $10; next }
$4 == "skip" {
	row($2, $3)
	if (!bseen[$1]++) bal[++nbal] = $1
	skip[$2 " " $3 " " $1] = $5
	next
}
{
	k = $2 " " $3 " " $1
	i = ++cnt[k]
	bulk = $2 == "down" || $2 == "up"
	rate[k, i] = bulk ? $12 : $4
	cost[k, i] = bulk ? $13 : $7
	p50[k, i] = $5; p99[k, i] = $6; rss[k, i] = $8; cpk[k, i] = $10
	cli[k, i] = $11
	# hetero: the share of the slow backend; burst: the longest wait
	# in the queue (- when the balancer does not say), the most
	# requests a backend had at once.
	if ($2 == "hetero") share[k, i] = $18
	if ($2 == "burst") {
		peak[k, i] = $19
		if ($17 != "-") qms[k, i] = $17
		else noq[k] = 1
	}
	bad[k] += $9
	if ($14 != "-") wrong(k, $14)
	# A close row makes about a connection a request; a keep-alive
	# one about one a client, whatever it adds beyond that per 1,000
	# requests is what the check bounds. A count of the whole machine
	# only ever adds: the keep-alive check needs our own. Lesson 3
	# closes every connection (it has no keep-alive): said, not failed.
	if ($2 == "close" && $11 < 900) wrong(k, "few-client-connections")
	if (private && ($2 == "ka" || $2 == "post" || $2 == "idle" ||
	    $2 == "hetero" || $2 == "burst") &&
	    $16 > 0 && ($15 - ($2 == "idle" ? busy : $3)) * 1000 / $16 > 50) {
		if ($1 == "lesson3") note[k] = "  (no keep-alive)"
		else wrong(k, "client-connections-not-kept")
	}
	if (!(k in lo) || rate[k, i] < lo[k]) lo[k] = rate[k, i]
	if (!(k in hi) || rate[k, i] > hi[k]) hi[k] = rate[k, i]
	row($2, $3)
	if (!bseen[$1]++) bal[++nbal] = $1
}
END {
	printf "wrk -t1 -d%ss, 2 nginx backends, %d rounds taken in turn; " \
	    "medians, range in brackets\n", secs, rounds
	# The balancer column as wide as its longest name, 10 at least.
	bw = 10
	for (b = 1; b <= nbal; b++) if (length(bal[b]) > bw) bw = length(bal[b])
	bw = "%-" bw "s"
	why["fdset"] = "(over FD_SETSIZE: 2 descriptors a client)"
	why["nopoll"] = "skip (lb has no -e poll yet)"
	why["ulimit"] = "skip (ulimit -n too low for the clients)"
	for (r = 1; r <= nrow; r++) {
		split(order[r], m, " ")
		bulk = m[1] == "down" || m[1] == "up"
		if (r == 1 || bulk != wasbulk)
			printf "%-6s %7s " bw " %8s %-17s %5s %8s %8s %8s " \
			    "%6s %6s %7s %7s\n", "shape", "clients", "lb",
			    bulk ? "MB/s" : "req/s", "(range)", "x hap", "p50 ms",
			    "p99 ms", bulk ? "cpu s/GB" : "cpu s/1k", "x hap",
			    "MB", "conn/1k", "cli/1k"
		wasbulk = bulk
		# hetero: against HAProxy with the same rule as least.
		h = order[r] (m[1] == "hetero" ? " haproxy-leastconn" : " haproxy")
		hetero = hetero || m[1] == "hetero"
		burst = burst || m[1] == "burst"
		first = 1
		for (b = 1; b <= nbal; b++) {
			k = order[r] " " bal[b]
			lead = sprintf("%-6s %7s", first ? m[1] : "",
			    first ? m[2] : "")
			if (k in skip) {
				printf "%s " bw " %8s %s\n", lead, bal[b], "-",
				    why[skip[k]]
				first = 0
				continue
			}
			if (!(k in cnt)) continue
			first = 0
			x = (h in cnt) && med(rate, h) > 0 ? \
			    med(rate, k) / med(rate, h) : 0
			y = (h in cnt) && med(cost, h) > 0 ? \
			    med(cost, k) / med(cost, h) : 0
			if (m[1] == "hetero")
				note[k] = sprintf("  slow %d%%", med(share, k))
			if (m[1] == "burst")
				note[k] = sprintf("  queue %s ms, peak %d",
				    noq[k] ? "-" : sprintf("%d", med(qms, k)),
				    med(peak, k))
			printf "%s " bw " %8.0f (%6.0f-%6.0f) %5.2f %8.2f %8.2f " \
			    "%8.3f %6.2f %6.1f %7.1f %7.1f%s%s%s\n", lead, bal[b],
			    med(rate, k), lo[k], hi[k], x, med(p50, k),
			    med(p99, k), med(cost, k), y, med(rss, k) / 1024,
			    med(cpk, k), med(cli, k), note[k],
			    bad[k] ? "  ERRORS " bad[k] : "",
			    k in faults ? "  WRONG:" faults[k] : ""
			if (bad[k] || k in faults) failed = 1
		}
	}
	print "ka: keep-alive GETs (100-byte body); close: GETs with" \
	    " Connection: close; post: keep-alive POSTs of " postb " bytes;"
	print "down, up: GETs, POSTs of " bulkmb " MiB bodies (MB/s: 10^6" \
	    " bytes); idle: that many idle keep-alive clients (one request"
	print "each, then silent) beside " busy " busy ones, whose figures" \
	    " these are. x hap: ratio to HAProxy; cpu, MB: the balancer'"'"'s"
	print "CPU seconds and peak resident memory; conn/1k, cli/1k:" \
	    " backend connections it opened, client connections it accepted,"
	printf "per 1,000 requests%s\n", (private ? "" : \
	    " (cli/1k counts the whole machine: other traffic adds)")
	if (hetero)
		print "hetero: two tests/backend, one " hms " ms a response," \
		    " one at once; slow: the share of requests the slow one" \
		    " took; x hap: to haproxy-leastconn"
	if (burst)
		print "burst: every client at once, two tests/backend of " bms \
		    " ms, at most " bmax " requests each; queue: the longest" \
		    " wait in the balancer'"'"'s queue (- it does not say), peak:" \
		    " the most a backend had at once"
	exit failed
}' "$out/results.txt" > "$out/table.txt"
# Not through a pipe into tee: a pipeline's status is tee's.
status=$?
cat "$out/table.txt"

# The chart: req/s and p99 against keep-alive clients, one line each,
# the mean of the rounds (the table gives medians).
if command -v gnuplot >/dev/null && grep -q '^[^ ]* ka ' "$out/results.txt"
then
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
