-- Count one call the decision refused before counting (forbidden, ip_not_allowed,
-- payment_required, inactive_key) in the hour's usage hash, beside the calls limits.lua counts,
-- so every refusal of a known key reaches the rollups. Consumes no allowance.
-- KEYS[1] this hour's usage hash   ARGV[1] the field "<key_id>|<product>|<endpoint>|<outcome>"
if redis.call('HINCRBY', KEYS[1], ARGV[1], 1) == 1 then
  redis.call('EXPIRE', KEYS[1], 3024000)  -- the same safety net as limits.lua's
end
return 1
