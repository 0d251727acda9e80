-- Check and count one API call for one account, atomically (see docs/architecture.md, "Gateway").
-- Every key carries the account's hash tag {acct:<id>}, so this runs on Redis Cluster too.
-- KEYS[1] per-second window   KEYS[2] per-minute window   KEYS[3] period quota
-- KEYS[4] this hour's usage hash (moved away by the usage flush job)
-- KEYS[5] the account's set of usage hashes not yet claimed by the flush (core/redis_keys.py)
-- ARGV[1] per-second limit, ARGV[2] per-minute limit, ARGV[3] period quota (-1: no limit)
-- ARGV[4] 1 when the quota is a hard cap, 0 when calls beyond it are billed as overage
-- ARGV[5] usage field prefix "<key_id>|<product>|<endpoint group>"
-- ARGV[6] seconds the quota key must live (to the period's end plus a margin)
-- Returns {admitted (1/0), outcome, second count, minute count, period count, new hash (1/0)}:
-- on a new hash the caller marks the account dirty for the flush (a key outside this slot).

local new_hash = 0

local function count_use(outcome)
  if redis.call('HINCRBY', KEYS[4], ARGV[5] .. '|' .. outcome, 1) == 1 then
    -- A safety net only: the flush job renames the hash long before this.
    redis.call('EXPIRE', KEYS[4], 3024000)
    new_hash = redis.call('SADD', KEYS[5], KEYS[4])
    if new_hash == 1 then redis.call('EXPIRE', KEYS[5], 3024000) end
  end
end

local second = tonumber(redis.call('GET', KEYS[1]) or '0')
local minute = tonumber(redis.call('GET', KEYS[2]) or '0')
local period = tonumber(redis.call('GET', KEYS[3]) or '0')
local per_second, per_minute, quota = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])

-- Refused calls consume nothing, so a client that backs off gets its full allowance back.
if per_second >= 0 and second >= per_second then
  count_use('rate_limited')
  return {0, 'rate_limited_second', second, minute, period, new_hash}
end
if per_minute >= 0 and minute >= per_minute then
  count_use('rate_limited')
  return {0, 'rate_limited_minute', second, minute, period, new_hash}
end
if quota >= 0 and ARGV[4] == '1' and period >= quota then
  count_use('quota_exceeded')
  return {0, 'quota_exceeded', second, minute, period, new_hash}
end

second = redis.call('INCR', KEYS[1])
if second == 1 then redis.call('EXPIRE', KEYS[1], 2) end
minute = redis.call('INCR', KEYS[2])
if minute == 1 then redis.call('EXPIRE', KEYS[2], 61) end
period = redis.call('INCR', KEYS[3])
if period == 1 then redis.call('EXPIRE', KEYS[3], tonumber(ARGV[6])) end
count_use('ok')
return {1, 'ok', second, minute, period, new_hash}
