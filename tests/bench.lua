-- bench.lua: what wrk sends for tests/bench.sh, and the line it reads.
-- The shape comes after the URL: `wrk ... URL -- post 200` POSTs a
-- 200-byte body on every request; `-- idle 1000` makes this wrk's 1,000
-- connections send one request between them each, then nothing;
-- nothing after the URL is a plain GET.

-- delay() is asked before every request of the thread, not per
-- connection: the first n answers are 0, all later ones an hour. A
-- connection that is quick to come back may take two of the n and
-- leave another with none, so "one each" holds on the whole.
local idle_left = 0

function init(args)
	local shape, n = args[1], tonumber(args[2] or "0")
	if shape == "post" then
		wrk.method = "POST"
		wrk.body = string.rep("x", n)
		wrk.headers["Content-Type"] = "application/octet-stream"
	elseif shape == "idle" then
		idle_left = n
		delay = function()
			if idle_left > 0 then
				idle_left = idle_left - 1
				return 0
			end
			return 3600000
		end
	end
end

-- One line for bench.sh: exact counts, no units to parse. Socket errors
-- (connect, read, write, timeout) and bad statuses (4xx, 5xx) apart.
function done(summary, latency, requests)
	local e = summary.errors
	io.write(string.format("bench %d %d %d %d %d %d %d\n",
	    summary.requests, summary.bytes, summary.duration,
	    latency:percentile(50), latency:percentile(99),
	    e.connect + e.read + e.write + e.timeout, e.status))
end
