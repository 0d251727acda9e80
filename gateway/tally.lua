-- Count a batch of tallied calls (gateway/tallying.py): calls no limit could refuse, admitted by
-- an auth process without asking Redis, counted here afterwards, atomically and once.
-- Sent over a plain Redis only (the auth server's pipeline): its keys span many accounts' slots.
-- KEYS[1] the batch's own key, which makes a retry after a lost reply a no-op; then, per entry,
-- three keys: the period quota counter, the hour's usage hash, the account's set of unclaimed
-- usage hashes (core/redis_keys.hour_keys)
-- ARGV, per entry: units to add to the period counter, seconds that counter must live (as
-- limits.lua's ARGV[6]), the number of usage fields n, then n pairs of field and calls
-- Returns the numbers (1-based) of the entries whose usage hash is new to its set: the caller
-- marks those accounts dirty for the flush, as for limits.lua.
if not redis.call('SET', KEYS[1], '1', 'NX', 'EX', 600) then return {} end

local fresh_hashes = {}
local a = 1
for entry = 1, (#KEYS - 1) / 3 do
  local quota, usage, hours = KEYS[entry * 3 - 1], KEYS[entry * 3], KEYS[entry * 3 + 1]
  local units, fields = tonumber(ARGV[a]), tonumber(ARGV[a + 2])
  if redis.call('INCRBY', quota, units) == units then
    redis.call('EXPIRE', quota, ARGV[a + 1])
  end
  local fresh = false
  for i = a + 3, a + 1 + 2 * fields, 2 do
    -- A field new to the hash (as limits.lua's count_use): the hash may be new too.
    if redis.call('HINCRBY', usage, ARGV[i], ARGV[i + 1]) == tonumber(ARGV[i + 1]) then
      fresh = true
    end
  end
  a = a + 3 + 2 * fields
  if fresh then
    redis.call('EXPIRE', usage, 3024000)  -- the same safety net as limits.lua's
    if redis.call('SADD', hours, usage) == 1 then
      redis.call('EXPIRE', hours, 3024000)
      fresh_hashes[#fresh_hashes + 1] = entry
    end
  end
end
return fresh_hashes
