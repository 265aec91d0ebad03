-- wrk script: sends GET requests to the path in $BENCH_PATH, each with the
-- next token of the file $BENCH_TOKENS (one token a line) as a Bearer token.

local path = os.getenv("BENCH_PATH")
local tokens = {}
for line in io.lines(os.getenv("BENCH_TOKENS")) do
    tokens[#tokens + 1] = line
end

local index = 0


function request()
    index = index % #tokens + 1
    return wrk.format("GET", path, { Authorization = "Bearer " .. tokens[index] })
end
