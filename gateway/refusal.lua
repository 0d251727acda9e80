-- Count one call the decision refused before counting (forbidden, ip_not_allowed,
-- payment_required, inactive_key) in the hour's usage hash, beside the calls limits.lua counts,
-- so every refusal of a known key reaches the rollups. Consumes no allowance.
-- KEYS[1] this hour's usage hash   KEYS[2] the account's set of unclaimed usage hashes
-- ARGV[1] the field "<key_id>|<product>|<endpoint>|<outcome>"
-- Returns 1 when the hash is new to the set: the caller marks the account dirty, as for
-- limits.lua (core/redis_keys.py, usage/flush.py).
local new_hash = 0
if redis.call('HINCRBY', KEYS[1], ARGV[1], 1) == 1 then
  redis.call('EXPIRE', KEYS[1], 3024000)  -- the same safety net as limits.lua's
  new_hash = redis.call('SADD', KEYS[2], KEYS[1])
  if new_hash == 1 then redis.call('EXPIRE', KEYS[2], 3024000) end
end
return new_hash
