-- verify.lua - wrk script: POST /v1/sessions/verify with one session token, as an application
-- backend would on every request. SESSIOND_BENCH_KEY (an API key) and SESSIOND_BENCH_TOKEN (a
-- session token) come from the environment. touch:false keeps every request a pure read.
wrk.method = "POST"
wrk.path = "/v1/sessions/verify"
wrk.headers["Authorization"] = "Bearer " .. os.getenv("SESSIOND_BENCH_KEY")
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"token":"' .. os.getenv("SESSIOND_BENCH_TOKEN") .. '","touch":false}'

-- Prints the answers that were not 2xx/3xx, so that a run full of errors is not read as fast.
function done(summary, latency, requests)
  io.write(string.format("non-2xx: %d\n", summary.errors.status))
end
