-- wrk script: sends GET requests to the path in $BENCH_PATH, each with the
-- next token of the file $BENCH_TOKENS (one token a line) as a Bearer token.
-- Requests are formatted once per thread, in init, after wrk has set the
-- Host header, so wrk allocates nothing per request and its garbage
-- collector cannot become the bottleneck.

local requests = {}
local count = 0
local index = 0


function init(args)
    local path = os.getenv("BENCH_PATH")
    for line in io.lines(os.getenv("BENCH_TOKENS")) do
        count = count + 1
        requests[count] = wrk.format("GET", path,
                                     { Authorization = "Bearer " .. line })
    end
end


function request()
    index = index % count + 1
    return requests[index]
end
