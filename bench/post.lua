-- wrk script: POST the body in $WRK_BODY (GET where it is empty), with an optional
-- binary-protocol header length.
local file = assert(io.open(os.getenv("WRK_BODY"), "rb"))
wrk.body = file:read("*all")
file:close()
wrk.method = (wrk.body == "") and "GET" or "POST"
wrk.headers["Content-Type"] = os.getenv("WRK_CONTENT_TYPE") or "application/json"
local header_length = os.getenv("WRK_HEADER_LENGTH")
if header_length and header_length ~= "" then
  wrk.headers["Inference-Header-Content-Length"] = header_length
end
