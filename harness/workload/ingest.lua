-- The platform's whole per-event Redis work in one atomic step (capstone, "Ingestion Service").
-- KEYS[1] limiter (sorted set), KEYS[2] per-minute counter, KEYS[3] hourly HyperLogLog of users,
-- KEYS[4] the user's timeline (sorted set). All four share one hash tag, so one slot.
-- ARGV: limit, window_ms, now_ms, event_id, user_id, timeline_entry,
--       counter_ttl_s, timeline_keep, timeline_ttl_s.
-- Returns {1, remaining, counter} when admitted, {0, retry_after_s, 0} when rejected: a rejected
-- event leaves no side effect.
local limit = tonumber(ARGV[1])
local window_ms = tonumber(ARGV[2])
local now = tonumber(ARGV[3])

-- The sliding-window limiter, exactly as ratelimit.lua (the rate_limit checker models it).
redis.call('ZREMRANGEBYSCORE', KEYS[1], 0, now - window_ms)
local count = redis.call('ZCARD', KEYS[1])
if count >= limit then
  local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
  local retry_after = 0
  if oldest[2] then
    retry_after = math.ceil((tonumber(oldest[2]) + window_ms - now) / 1000)
  end
  return {0, retry_after, 0}
end
redis.call('ZADD', KEYS[1], now, ARGV[4])
redis.call('PEXPIRE', KEYS[1], window_ms)

local counter = redis.call('INCR', KEYS[2])
redis.call('EXPIRE', KEYS[2], ARGV[7])
redis.call('PFADD', KEYS[3], ARGV[5])
redis.call('ZADD', KEYS[4], now, ARGV[6])
-- Keep the newest timeline_keep entries: ranks 0 .. -(keep+1) are the oldest beyond them.
redis.call('ZREMRANGEBYRANK', KEYS[4], 0, -(tonumber(ARGV[8]) + 1))
redis.call('EXPIRE', KEYS[4], ARGV[9])
return {1, limit - count - 1, counter}
