#!/bin/sh
# bench.sh [SECONDS] [CONNECTIONS]: final/lb side by side with lesson3/lb
# and, where installed, HAProxy, nginx and pen, in front of the same
# three tests/backend servers on loopback; wrk with one thread and
# keep-alive clients; one run; requests per second and ratios to final/lb.
#
# Every balancer gets one process, one thread and X-Forwarded-For;
# final/lb, HAProxy and nginx keep connections to the backends open
# (pen is a TCP proxy: one backend connection per client connection, so
# it balances connections, not requests). final/lb also writes its
# access log (to /dev/null) and probes its backends; the others do not.
#
# Ports come from below Linux's ephemeral range (32768 and up), where the
# TIME_WAIT sockets of lesson 3's run cannot block a later bind(); and
# lesson 3 runs last. A balancer that does not come up is reported with
# its stderr, and the script then exits 1: a missing row is a failure.
set -u
secs=${1:-5}
conns=${2:-50}
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

command -v wrk >/dev/null || {
	echo "bench: needs wrk (Debian: apt-get install wrk)" >&2
	exit 1
}
base=$((10000 + $$ % 20000))
failed=0
b1=$((base + 1)) b2=$((base + 2)) b3=$((base + 3))
for p in $b1 $b2 $b3; do
	"$here/backend" -l $p -q 2>/dev/null &
	pids="$pids $!"
done

run() {		# run NAME PORT: wait for the port, then one wrk run
	i=0
	until curl -s -o /dev/null "http://127.0.0.1:$2/" 2>/dev/null; do
		i=$((i + 1))
		if [ $i -gt 50 ]; then
			echo "bench: $1 never came up on port $2; its stderr:" >&2
			sed 's/^/  /' "$tmp/$1.err" >&2 2>/dev/null
			failed=1
			return
		fi
		sleep 0.1
	done
	wrk -t1 -c"$conns" -d"${secs}s" "http://127.0.0.1:$2/" > "$tmp/wrk" 2>&1
	rps=$(awk '/Requests\/sec/ { print $2 }' "$tmp/wrk")
	# Errors must not pass for speed: count non-2xx answers and socket errors.
	bad=$(awk '/Non-2xx/ { n += $NF } /Socket errors/ { gsub(",", "");
	    n += $4 + $6 + $8 + $10 } END { print n + 0 }' "$tmp/wrk")
	echo "$1 ${rps:-0} $bad" >> "$tmp/results"
}

mkdir -p "$tmp/final" "$tmp/lesson3"
"$top/final/lb" -l $((base + 10)) -b 127.0.0.1:$b1 -b 127.0.0.1:$b2 \
    -b 127.0.0.1:$b3 >/dev/null 2>"$tmp/final/lb.err" &
pids="$pids $!"
run final/lb $((base + 10))

if command -v haproxy >/dev/null; then
	cat > "$tmp/haproxy.cfg" <<EOF
global
	nbthread 1
	maxconn 4096
defaults
	mode http
	timeout connect 2s
	timeout client 30s
	timeout server 30s
	option forwardfor
	http-reuse safe
frontend fe
	bind 127.0.0.1:$((base + 12))
	default_backend be
backend be
	balance roundrobin
	server b1 127.0.0.1:$b1
	server b2 127.0.0.1:$b2
	server b3 127.0.0.1:$b3
EOF
	haproxy -f "$tmp/haproxy.cfg" -db >/dev/null 2>"$tmp/haproxy.err" &
	pids="$pids $!"
	run haproxy $((base + 12))
fi

if command -v nginx >/dev/null; then
	cat > "$tmp/nginx.conf" <<EOF
worker_processes 1;
pid $tmp/nginx.pid;
error_log $tmp/nginx.err;
daemon off;
events { worker_connections 4096; }
http {
	access_log off;
	client_body_temp_path $tmp;
	proxy_temp_path $tmp;
	upstream be {
		server 127.0.0.1:$b1;
		server 127.0.0.1:$b2;
		server 127.0.0.1:$b3;
		keepalive 32;
	}
	server {
		listen 127.0.0.1:$((base + 13));
		location / {
			proxy_pass http://be;
			proxy_http_version 1.1;
			proxy_set_header Connection "";
			proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
		}
	}
}
EOF
	nginx -c "$tmp/nginx.conf" -p "$tmp" >/dev/null 2>"$tmp/nginx.err" &
	pids="$pids $!"
	run nginx $((base + 13))
fi

if command -v pen >/dev/null; then
	# -r: round robin (not sticky by client address), -H: X-Forwarded-For.
	pen -f -r -H -x 4096 -c 4096 127.0.0.1:$((base + 14)) \
	    127.0.0.1:$b1 127.0.0.1:$b2 127.0.0.1:$b3 >/dev/null \
	    2>"$tmp/pen.err" &
	pids="$pids $!"
	run pen $((base + 14))
fi

# Last: it opens and closes two connections per request, and the sockets
# it leaves in TIME_WAIT must not get in the way of the others.
"$top/lesson3/lb" -l $((base + 11)) -b 127.0.0.1:$b1 -b 127.0.0.1:$b2 \
    -b 127.0.0.1:$b3 >/dev/null 2>"$tmp/lesson3/lb.err" &
pids="$pids $!"
run lesson3/lb $((base + 11))

echo "wrk -t1 -c$conns -d${secs}s, keep-alive clients, 3 backends, one run:"
awk 'NR == 1 { ref = $2 }
     { printf "  %-12s %10.0f req/s  %5.2fx final/lb  %d errors\n", $1, $2,
       (ref > 0 ? $2 / ref : 0), $3 }' "$tmp/results"
exit $failed
