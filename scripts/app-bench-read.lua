-- wrk script: alternates the first page of the list (cached) and one resume's detail.
local detail = "/api/resumes/" .. os.getenv("BENCH_RESUME")
local n = 0
request = function()
  n = n + 1
  if n % 2 == 0 then
    return wrk.format("GET", detail)
  end
  return wrk.format("GET", "/api/resumes")
end
