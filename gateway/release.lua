-- Close one lease (gateway/leasing.py) after its term: give back the calls it did not
-- spend, and count the ones it did in the hour's usage hash, atomically and once.
-- KEYS[1] the period quota the lease counted in   KEYS[2] the usage hash of the lease's hour
-- KEYS[3] the account's set of unclaimed usage hashes   KEYS[4] this release's own key, which
-- makes a retry after a lost reply a no-op; then the per-second window (hash) if the lease
-- counted in one, then the per-minute window (hash) if it did
-- ARGV[1] calls leased and not spent   ARGV[2], ARGV[3] the bucket the lease counted in, in the
-- window of KEYS[5] and of KEYS[6] (-1 for a window not named)
-- ARGV[4], ARGV[5]... usage field prefixes ("<key_id>|<product>|<endpoint group>", as limits.lua's
-- ARGV[5]) and the calls spent under each, counted under "<prefix>|ok"
-- Returns 1 when the usage hash is new to the set (the caller marks the account dirty, as for
-- limits.lua), 0 otherwise, -1 when this release was applied before.
--
-- An unspent call leaves its bucket's slot only while the ring still holds that bucket (limits.lua:
-- 11 buckets); later, the bucket has left every window and there is nothing to give back there.
if not redis.call('SET', KEYS[4], '1', 'NX', 'EX', 600) then return -1 end

local SPAN = 11
local unspent = tonumber(ARGV[1])
if unspent > 0 then
  redis.call('DECRBY', KEYS[1], unspent)
  for i = 5, #KEYS do
    local bucket = tonumber(ARGV[i - 3])
    local newest = tonumber(redis.call('HGET', KEYS[i], 'at') or '-1')
    if bucket <= newest and bucket > newest - SPAN then
      local field = tostring(bucket % SPAN)
      if redis.call('HINCRBY', KEYS[i], field, -unspent) < 0 then
        redis.call('HSET', KEYS[i], field, '0')
      end
    end
  end
end

local new_hash = 0
local fresh = redis.call('EXISTS', KEYS[2]) == 0
for i = 4, #ARGV, 2 do
  redis.call('HINCRBY', KEYS[2], ARGV[i] .. '|ok', ARGV[i + 1])
end
if fresh and #ARGV >= 4 then
  redis.call('EXPIRE', KEYS[2], 3024000)  -- the same safety net as limits.lua's
  new_hash = redis.call('SADD', KEYS[3], KEYS[2])
  if new_hash == 1 then redis.call('EXPIRE', KEYS[3], 3024000) end
end
return new_hash
