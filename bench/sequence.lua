-- wrk script: each request one step of one of $SEQUENCES live sequences of seed-demo, in turn,
-- the first request of each starting it; with $SEQUENCES=0 each request starts one of its own.
-- wrk calls request() once before the run to check it: that first id's start is never sent, so
-- the first round is one longer (restarting a sequence at its first step changes nothing).
local count = tonumber(os.getenv("SEQUENCES"))
local n = 0
request = function()
  n = n + 1
  local id, start = n, true
  if count > 0 then id, start = n % count, n <= count + 1 end
  local body = '{"inputs": [[[0.1, 0.2, 0.3]]], "sequence": {"id": "s' .. id
    .. '", "start": ' .. tostring(start) .. '}}'
  return wrk.format("POST", "/v1/models/seed-demo/predict",
    {["Content-Type"] = "application/json"}, body)
end
