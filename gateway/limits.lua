-- Check and count one API call for one account, atomically (see docs/architecture.md, "Gateway").
-- Every key carries the account's hash tag {acct:<id>}, so this runs on Redis Cluster too.
-- KEYS[1] period quota   KEYS[2] this hour's usage hash (moved away by the usage flush job)
-- KEYS[3] the account's set of usage hashes not yet claimed by the flush (core/redis_keys.py)
-- then the per-second window (hash) if there is a per-second limit, then the per-minute window
-- (hash) if there is a per-minute limit, then the endpoint's own per-second and per-minute
-- windows if it has those limits: only keys the script touches are named, since a Redis
-- Cluster node importing the slot answers TRYAGAIN to a call naming a key it does not have yet.
-- ARGV[1] per-second limit, ARGV[2] per-minute limit, ARGV[3] period quota (-1: no limit)
-- ARGV[4] 1 when the quota is a hard cap, 0 when calls beyond it are billed as overage
-- ARGV[5] usage field prefix "<key_id>|<product>|<endpoint group>"
-- ARGV[6] seconds the quota key must live (to the period's end plus a margin)
-- ARGV[7] the decision's time, unix milliseconds; ARGV[8], ARGV[9] its 100 ms and 6 s bucket
-- numbers (unix ms // 100, // 6000), as decimal strings
-- ARGV[10] the call's cost in units (a decimal string, 1 or more): what it adds to the quota
-- ARGV[11], ARGV[12] the endpoint's own per-second and per-minute limits (-1: none)
-- ARGV[13] 1 when the call spends prepaid credits: then the last key is the account's credit
-- hash (core/redis_keys.credits_key; fields balance and used, see credits/balance.py)
-- ARGV[14] calls to lease beyond this one (gateway/leasing.py; 0: none): an admitted call may
-- count up to that many more in its own buckets and in the quota, which the caller admits itself
-- until the lease's term ends and then returns what it did not spend (release.lua)
-- Returns {admitted (1/0), outcome, then for the second and the minute window: calls counted,
-- ms until the oldest of them leaves, ms until a call would be admitted; then the period count
-- (units), new hash (1/0), then the endpoint's second and minute windows as the plan's, then
-- the credits left (-1: the call spends none), then the calls leased (0 or more)}: on a new
-- hash the caller marks the account dirty for the flush (a key outside this slot). Outcome credits_unknown (nothing counted): the
-- credit hash has no balance yet, the caller seeds it from the ledger and asks again.
--
-- Credits are spent by the unit, like the quota.
--
-- Rate windows count calls (a call of any cost is one call); the quota counts units. An admitted
-- call's usage field is "<prefix>|ok" at cost 1 and "<prefix>|ok|<cost>" otherwise (the flush
-- multiplies), so a weighted call costs no extra command.
--
-- Rolling windows: a window's hash counts admitted calls in buckets a tenth of its length wide
-- (100 ms, 6 s). A call is judged on the sum of its own bucket and the 10 before it: that span
-- covers the last full window length whatever the time within the bucket, so no rolling window
-- of the limit's length ever holds more than the limit (a call may be refused up to one bucket
-- early; none is admitted too soon). The hash is a ring: bucket b counts in field b % 11, and
-- field 'at' holds the newest bucket written, so each slot's bucket is known and a slot is
-- zeroed when time passes it by. Field names are constants and bucket numbers come as strings,
-- because turning Lua numbers into strings (printf) was the largest cost of an earlier version.

local SPAN = 11
-- A lease takes at most this share of what is left in every window and in a hard-capped quota,
-- so other processes keep room; and a hard cap with fewer units left than LEASE_QUOTA_FLOOR is
-- decided call by call, so an unspent lease never refuses the quota's last calls.
local LEASE_SHARE, LEASE_QUOTA_FLOOR = 4, 1000
local SLOTS = {'0', '1', '2', '3', '4', '5', '6', '7', '8', '9', '10'}
local now_ms = tonumber(ARGV[7])
local new_hash = 0
local credits = -1
local leased = 0
local second, minute, endpoint_second, endpoint_minute

local function count_use(outcome)
  if redis.call('HINCRBY', KEYS[2], ARGV[5] .. '|' .. outcome, 1) == 1 then
    -- A safety net only: the flush job renames the hash long before this.
    redis.call('EXPIRE', KEYS[2], 3024000)
    new_hash = redis.call('SADD', KEYS[3], KEYS[2])
    if new_hash == 1 then redis.call('EXPIRE', KEYS[3], 3024000) end
  end
end

local function slot(bucket)
  return SLOTS[bucket % SPAN + 1]
end

-- counts[1..SPAN]: calls in the buckets current - 10 .. current, oldest first.
local function read_window(key, limit, width, bucket_name)
  local w = {key = key, limit = limit, width = width, used = 0, counts = {}}
  if limit < 0 then return w end  -- no limit: nothing read, nothing counted
  local current = tonumber(bucket_name)
  local asked = current
  local ring = redis.call('HMGET', key, '0', '1', '2', '3', '4', '5', '6', '7', '8', '9', '10', 'at')
  local newest = tonumber(ring[SPAN + 1] or '-1')
  -- A host whose clock runs behind counts as if at the newest bucket (never fewer calls).
  w.advance = current > newest
  if not w.advance then current, bucket_name = newest, ring[SPAN + 1] end
  -- A lease is only for the bucket the caller named (a host behind counts in a later one).
  w.own_bucket = current == asked
  w.current, w.newest, w.bucket_name = current, newest, bucket_name
  for i = 1, SPAN do
    local bucket = current - SPAN + i
    -- A slot counts for this bucket only if no later bucket has been written over it.
    local n = 0
    if bucket <= newest and bucket > newest - SPAN then
      n = tonumber(ring[bucket % SPAN + 1] or '0')
    end
    w.counts[i] = n
    w.used = w.used + n
  end
  return w
end

local function admit(w)
  if w.limit < 0 then return end
  if not w.advance then
    redis.call('HINCRBY', w.key, slot(w.current), 1)
  else
    -- The new bucket starts at 1; the slots of buckets skipped since the newest are zeroed (their
    -- values are 11 or more buckets old); the hash lives one span (and a bucket, for hosts'
    -- clocks apart) past the new bucket.
    local fields = {slot(w.current), '1', 'at', w.bucket_name}
    local from = math.max(w.newest + 1, w.current - SPAN + 1)
    if w.newest < 0 then from = w.current end  -- a new hash has no slot to zero
    for bucket = from, w.current - 1 do
      fields[#fields + 1] = slot(bucket)
      fields[#fields + 1] = '0'
    end
    redis.call('HSET', w.key, unpack(fields))
    redis.call('PEXPIRE', w.key, (SPAN + 1) * w.width)
  end
  w.counts[SPAN] = w.counts[SPAN] + 1
  w.used = w.used + 1
end

-- {calls counted, ms until the oldest leaves, ms until one more call fits under the limit}
local function timing(w)
  if w.limit < 0 or w.used == 0 then return {w.used, 0, 0} end
  local reset, retry, left = nil, 0, w.used
  for i = 1, SPAN do
    if w.counts[i] > 0 then
      local leaves = (w.current + i) * w.width - now_ms  -- bucket current-SPAN+i leaves
      reset = reset or leaves
      if left >= w.limit then retry = leaves end
      left = left - w.counts[i]
    end
  end
  return {w.used, reset, retry}
end

local function answer(admitted, outcome, period)
  local reply = {admitted, outcome}
  for _, w in ipairs({second, minute}) do
    for _, v in ipairs(timing(w)) do reply[#reply + 1] = v end
  end
  reply[#reply + 1] = period
  reply[#reply + 1] = new_hash
  for _, w in ipairs({endpoint_second, endpoint_minute}) do
    for _, v in ipairs(timing(w)) do reply[#reply + 1] = v end
  end
  reply[#reply + 1] = credits
  reply[#reply + 1] = leased
  return reply
end

local per_second, per_minute, quota = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local cost = tonumber(ARGV[10])
local endpoint_per_second, endpoint_per_minute = tonumber(ARGV[11]), tonumber(ARGV[12])
-- The windows' keys follow the first three, each present only with its limit.
local next_key = 4
local function window_key(limit)
  if limit < 0 then return nil end
  next_key = next_key + 1
  return KEYS[next_key - 1]
end
second = read_window(window_key(per_second), per_second, 100, ARGV[8])
minute = read_window(window_key(per_minute), per_minute, 6000, ARGV[9])
endpoint_second = read_window(window_key(endpoint_per_second), endpoint_per_second, 100, ARGV[8])
endpoint_minute = read_window(window_key(endpoint_per_minute), endpoint_per_minute, 6000, ARGV[9])
local period = tonumber(redis.call('GET', KEYS[1]) or '0')

-- Refused calls consume nothing, so a client that backs off gets its full allowance back.
local windows = {
  {second, 'rate_limited_second'}, {minute, 'rate_limited_minute'},
  {endpoint_second, 'rate_limited_endpoint_second'}, {endpoint_minute, 'rate_limited_endpoint_minute'},
}
for _, w in ipairs(windows) do
  if w[1].limit >= 0 and w[1].used >= w[1].limit then
    count_use('rate_limited')
    return answer(0, w[2], period)
  end
end
-- A hard cap admits a call only if all its units fit: the quota is never overrun.
if quota >= 0 and ARGV[4] == '1' and period + cost > quota then
  count_use('quota_exceeded')
  return answer(0, 'quota_exceeded', period)
end
local credits_key = ARGV[13] == '1' and KEYS[#KEYS] or nil
if credits_key then
  local balance = redis.call('HGET', credits_key, 'balance')
  if not balance then return answer(0, 'credits_unknown', period) end
  credits = tonumber(balance)
  if credits < cost then
    count_use('credits_exhausted')
    return answer(0, 'credits_exhausted', period)
  end
end

for _, w in ipairs(windows) do admit(w[1]) end
period = redis.call('INCRBY', KEYS[1], cost)
if period == cost then redis.call('EXPIRE', KEYS[1], tonumber(ARGV[6])) end
if credits_key then
  credits = redis.call('HINCRBY', credits_key, 'balance', -cost)
  redis.call('HINCRBY', credits_key, 'used', cost)
end
count_use(cost == 1 and 'ok' or ('ok|' .. ARGV[10]))

-- The lease: counted now as admitted calls of this bucket, spent by the caller without asking.
local function lease_size(want)
  for _, w in ipairs({second, minute}) do
    if w.limit >= 0 then
      if not w.own_bucket then return 0 end
      want = math.min(want, math.floor((w.limit - w.used) / LEASE_SHARE))
    end
  end
  if quota >= 0 and ARGV[4] == '1' then
    if quota - period < LEASE_QUOTA_FLOOR then return 0 end
    want = math.min(want, math.floor((quota - period) / LEASE_SHARE))
  end
  return want
end
local want = tonumber(ARGV[14] or '0')
if want > 0 and cost == 1 and not credits_key then
  leased = lease_size(want)
  if leased > 0 then
    for _, w in ipairs({second, minute}) do
      if w.limit >= 0 then
        redis.call('HINCRBY', w.key, slot(w.current), leased)
        w.counts[SPAN] = w.counts[SPAN] + leased
        w.used = w.used + leased
      end
    end
    period = redis.call('INCRBY', KEYS[1], leased)
  end
end
return answer(1, 'ok', period)
