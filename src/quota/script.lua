-- quotaswarm: the buckets of one lane (one API key fingerprint and model), in Redis.
--
-- KEYS[1] the lane's hash: t (last refill, microseconds of Redis TIME), and per bucket
--         i = 1..n: l<i> (level), f<i> (others' learned rate, units/s), s<i> (when the
--         server's view was last compared, microseconds), L<i> (the limit per minute a
--         process learned from the server, if any)
-- KEYS[2] the lane's pause key (a 429's retry-after), KEYS[3] its open-circuit key
-- ARGV[1] op: admit | settle | observe | penalize | peek | pause | circuit
-- pause / circuit: ARGV[2] milliseconds; extends the key's expiry, never shortens it.
-- otherwise: ARGV[2] n, ARGV[3] server lag (s), then per bucket: limit per minute,
--         capacity, amount, slack
--   admit:    amount = cost; debits every bucket or none
--   settle:   amount = reserved - actual (> 0 refunds, < 0 charges)
--   observe:  amount = the server's `remaining` (< 0: not reported); slack its rounding
--   penalize: amount = what a refused request had reserved
--   limits:   limit and capacity are the old ones, amount the new limit and slack the
--             new capacity; after the buckets ARGV holds each bucket's `remaining` (< 0:
--             not reported). Stores L<i> (the limit learned from the server, read by
--             every process) and, unless L<i> already held it, moves the level by the
--             change of capacity (what was spent stays spent), at most to `remaining`;
--             others' learned rate starts afresh
--   batch:    amounts unused; after the buckets ARGV holds m, then m costs of n amounts:
--             admits the costs in order, each all-or-nothing, until one does not fit
-- Replies: {0, level...} (admitted, settled, observed, peeked); {1, wait_us, reason}
-- (reason paused | circuit | buckets); {2, bucket, max} (can never fit).
-- batch: {k, code, wait_us or bucket, reason or max, level...}: k costs admitted, then
-- code 0 (all admitted), 1 (the next waits) or 2 (the next can never fit).
local op = ARGV[1]
if op == 'pause' or op == 'circuit' then
  local key = KEYS[2]
  if op == 'circuit' then key = KEYS[3] end
  local ms = tonumber(ARGV[2])
  if redis.call('PTTL', key) < ms then
    redis.call('SET', key, '1', 'PX', ms)
  end
  return {0}
end

local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local n = tonumber(ARGV[2])
local lag = tonumber(ARGV[3])
local raw = redis.call('HGETALL', KEYS[1])
local st = {}
for i = 1, #raw, 2 do st[raw[i]] = tonumber(raw[i + 1]) end
local dt = math.max(0, now - (st['t'] or now)) / 1000000
local limit, cap, amt, slack, nominal, foreign, rate, level =
  {}, {}, {}, {}, {}, {}, {}, {}
for i = 1, n do
  local b = 4 + (i - 1) * 4
  limit[i] = tonumber(ARGV[b])
  cap[i] = tonumber(ARGV[b + 1])
  amt[i] = tonumber(ARGV[b + 2])
  slack[i] = tonumber(ARGV[b + 3])
  if op == 'limits' then
    -- The store already holds the new limit (another process told it first): the level
    -- refills and is capped with the new figures, and is not moved again.
    local prev = st['L' .. i]
    if prev ~= nil and math.abs(prev - amt[i]) <= 0.5 then limit[i], cap[i] = amt[i], slack[i] end
  end
  nominal[i] = limit[i] / 60
  foreign[i] = st['f' .. i] or 0
  rate[i] = math.max(nominal[i] - foreign[i], nominal[i] * 0.05)
  local l = st['l' .. i]
  if l == nil then l = cap[i] else l = math.min(cap[i], l + dt * rate[i]) end
  level[i] = l
end

local function save()
  redis.call('HSET', KEYS[1], 't', now)
  for i = 1, n do
    redis.call('HSET', KEYS[1], 'l' .. i, tostring(level[i]), 'f' .. i, tostring(foreign[i]))
  end
  redis.call('PEXPIRE', KEYS[1], 600000)
end

local function levels()
  local out = {0}
  for i = 1, n do out[i + 1] = tostring(level[i]) end
  return out
end

if op == 'batch' then
  local p = redis.call('PTTL', KEYS[2])
  if p > 0 then return {0, 1, p * 1000, 'paused'} end
  local c = redis.call('PTTL', KEYS[3])
  if c > 0 then return {0, 1, c * 1000, 'circuit'} end
  local base = 4 + n * 4
  local m = tonumber(ARGV[base])
  local k, code, x, y = 0, 0, 0, ''
  for j = 1, m do
    local cost = {}
    local wait = 0
    for i = 1, n do
      cost[i] = tonumber(ARGV[base + (j - 1) * n + i])
      if cost[i] > limit[i] then code, x, y = 2, i, tostring(limit[i]) end
      local short = math.min(cost[i], cap[i]) - level[i]
      if short > 1e-9 then wait = math.max(wait, short / rate[i]) end
    end
    if code == 2 then break end
    if wait > 0 then
      code, x, y = 1, math.ceil(wait * 1000000), 'buckets'
      break
    end
    for i = 1, n do
      if level[i] >= cap[i] and cost[i] > 0 then level[i] = level[i] - nominal[i] * lag end
      level[i] = level[i] - cost[i]
    end
    k = j
  end
  if k > 0 then save() end
  local out = {k, code, x, y}
  for i = 1, n do out[i + 4] = tostring(level[i]) end
  return out
elseif op == 'admit' then
  local p = redis.call('PTTL', KEYS[2])
  if p > 0 then return {1, p * 1000, 'paused'} end
  local c = redis.call('PTTL', KEYS[3])
  if c > 0 then return {1, c * 1000, 'circuit'} end
  local wait = 0
  for i = 1, n do
    if amt[i] > limit[i] then return {2, i, tostring(limit[i])} end
    local short = math.min(amt[i], cap[i]) - level[i]
    if short > 1e-9 then wait = math.max(wait, short / rate[i]) end
  end
  if wait > 0 then
    return {1, math.ceil(wait * 1000000), 'buckets'}
  end
  for i = 1, n do
    if level[i] >= cap[i] and amt[i] > 0 then level[i] = level[i] - nominal[i] * lag end
    level[i] = level[i] - amt[i]
  end
elseif op == 'settle' then
  for i = 1, n do
    if amt[i] > 0 then
      level[i] = math.min(cap[i], level[i] + amt[i])
    else
      level[i] = level[i] + amt[i]
    end
  end
elseif op == 'limits' then
  local base = 4 + n * 4
  for i = 1, n do
    local prev = st['L' .. i]
    if prev == nil or math.abs(prev - amt[i]) > 0.5 then
      level[i] = level[i] + (slack[i] - cap[i])
      foreign[i] = 0
      redis.call('HSET', KEYS[1], 'L' .. i, tostring(amt[i]))
    end
    local r = tonumber(ARGV[base + i - 1])
    if r ~= nil and r >= 0 then level[i] = math.min(level[i], r) end
    level[i] = math.min(level[i], slack[i])
  end
elseif op == 'penalize' then
  for i = 1, n do
    foreign[i] = math.max(0, math.min(nominal[i] * 0.95, foreign[i] + amt[i] / 10))
  end
elseif op == 'observe' then
  for i = 1, n do
    if amt[i] >= 0 then
      local since = st['s' .. i]
      local gap = level[i] - amt[i]
      if gap > slack[i] then
        foreign[i] = foreign[i] + gap / 10
        level[i] = amt[i]
      elseif since ~= nil then
        foreign[i] = foreign[i] * math.exp(-math.max(0, now - since) / 1000000 / 180)
      end
      foreign[i] = math.max(0, math.min(nominal[i] * 0.95, foreign[i]))
      redis.call('HSET', KEYS[1], 's' .. i, now)
    end
  end
elseif op ~= 'peek' then
  return redis.error_reply('unknown op ' .. op)
end
save()
return levels()
