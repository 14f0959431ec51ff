-- wrk script: each request one step of one of $SEQUENCES live sequences of seed-demo, in turn
-- (the first request of each starts it); with $SEQUENCES=0 each request starts one of its own.
local count = tonumber(os.getenv("SEQUENCES"))
local n = 0
request = function()
  n = n + 1
  local id, start = n, true
  if count > 0 then id, start = n % count, n <= count end
  local body = '{"inputs": [[[0.1, 0.2, 0.3]]], "sequence": {"id": "s' .. id
    .. '", "start": ' .. tostring(start) .. '}}'
  return wrk.format("POST", "/v1/models/seed-demo/predict",
    {["Content-Type"] = "application/json"}, body)
end
