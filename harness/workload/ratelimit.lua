-- The platform's per-tenant sliding-window rate limiter (capstone, "Rate Limiting").
-- KEYS[1] limiter key; ARGV: limit, window_ms, now_ms, request_id.
-- Returns {1, remaining} when admitted, {0, retry_after_s} when rejected.
local key = KEYS[1]
local limit = tonumber(ARGV[1])
local window_ms = tonumber(ARGV[2])
local now = tonumber(ARGV[3])
local request_id = ARGV[4]

redis.call('ZREMRANGEBYSCORE', key, 0, now - window_ms)
local count = redis.call('ZCARD', key)
if count >= limit then
  local oldest = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
  local retry_after = 0
  if oldest[2] then
    retry_after = math.ceil((tonumber(oldest[2]) + window_ms - now) / 1000)
  end
  return {0, retry_after}
end
redis.call('ZADD', key, now, request_id)
redis.call('PEXPIRE', key, window_ms)
return {1, limit - count - 1}
