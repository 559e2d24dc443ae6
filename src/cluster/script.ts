// The one Lua script every instance runs in Redis. Redis runs a script atomically, so numbering
// (global seq), the cycle rule per device and appending to the shared stream happen as one step,
// however many instances receive readings of the same device at the same moment.
//
// Keys: 1 seq counter, 2 stream, 3 the device's hash, 4 the set of devices.
// A device's hash keeps its cycle (cip, started, last, n, closed), running min/max/sum per metric
// (min and max as the exact text the instance sent; sum with 17 significant digits, so a number
// read back is the same double), its latest reading's JSON and the seq of its last event.
//
// Stream entries: t = event type, d = device, p = payload:
//   reading       the stored reading's JSON (built here: the head an instance sent + cip_id, device, seq)
//   cycle.opened  "cip|started_ms"
//   cycle.closed  "cip|started_ms|last_ms|n|min|max|sum|count for each metric"
// The frames subscribers get are built from these by every instance with the same code (frames.ts).
export const SCRIPT = `
local mode = ARGV[1]
if redis.call('EXISTS', KEYS[1]) == 0 then
  return redis.error_reply('NOSEED the seq counter is missing: Redis lost its data')
end
local metrics = {'temperature', 'pressure', 'concentration', 'flow'}
local device = ARGV[3]
local maxlen = ARGV[4]
local gap = tonumber(ARGV[5])
local h = {}
local raw = redis.call('HGETALL', KEYS[3])
for i = 1, #raw, 2 do h[raw[i]] = raw[i + 1] end
local out = {}
local function cycle()
  return h.cip .. '|' .. h.started .. '|' .. h.last .. '|' .. h.n .. '|' .. h.closed
end
local function add(kind, payload, seq)
  seq = seq or redis.call('INCR', KEYS[1])
  redis.call('XADD', KEYS[2], 'MAXLEN', '~', maxlen, seq .. '-0', 't', kind, 'd', device, 'p', payload)
  h.seq = tostring(seq)
  out[#out + 1] = kind
  out[#out + 1] = seq
  out[#out + 1] = payload
  out[#out + 1] = cycle()
end
local function state()
  local parts = {h.cip, h.started, h.last, h.n}
  for _, m in ipairs(metrics) do
    parts[#parts + 1] = h['mn_' .. m]
    parts[#parts + 1] = h['mx_' .. m]
    parts[#parts + 1] = h['sm_' .. m]
    parts[#parts + 1] = h['ct_' .. m] or '0'
  end
  return table.concat(parts, '|')
end
local function close()
  h.closed = '1'
  add('cycle.closed', state())
end
local function open(cip, ms)
  h.cip = tostring(cip)
  h.started = ms
  h.last = ms
  h.n = '0'
  h.closed = '0'
  for _, m in ipairs(metrics) do
    h['mn_' .. m] = ''
    h['mx_' .. m] = ''
    h['sm_' .. m] = '0'
    h['ct_' .. m] = '0'
  end
  add('cycle.opened', h.cip .. '|' .. ms)
end
local function save()
  local flat = {}
  for k, v in pairs(h) do
    flat[#flat + 1] = k
    flat[#flat + 1] = v
  end
  redis.call('HSET', KEYS[3], unpack(flat))
  redis.call('SADD', KEYS[4], device)
end

if mode == 'ingest' then
  -- ARGV: mode, device JSON, device, maxlen, gap ms, count, then per reading: ms, head, 4 values ('' = none), tail
  local devjson = ARGV[2]
  local n = tonumber(ARGV[6])
  for i = 0, n - 1 do
    local b = 7 + i * 7
    local ms = ARGV[b]
    local at = tonumber(ms)
    if h.cip == nil then
      open(1, ms)
    elseif at - tonumber(h.last) > gap then
      if h.closed == '0' then close() end
      open(tonumber(h.cip) + 1, ms)
    end
    -- Instances' clocks differ a little: the cycle's end only moves forward.
    if at > tonumber(h.last) then h.last = ms end
    h.n = tostring(tonumber(h.n) + 1)
    for k, m in ipairs(metrics) do
      local text = ARGV[b + 1 + k]
      -- An empty value: the sensor failed or the board has none; it is not counted.
      if text ~= '' then
        local v = tonumber(text)
        if h['mn_' .. m] == '' or v < tonumber(h['mn_' .. m]) then h['mn_' .. m] = text end
        if h['mx_' .. m] == '' or v > tonumber(h['mx_' .. m]) then h['mx_' .. m] = text end
        h['sm_' .. m] = string.format('%.17g', tonumber(h['sm_' .. m]) + v)
        h['ct_' .. m] = tostring(tonumber(h['ct_' .. m] or '0') + 1)
      end
    end
    local seq = redis.call('INCR', KEYS[1])
    local json = ARGV[b + 1] .. h.cip .. ',"device":' .. devjson .. ',"seq":' .. seq .. ARGV[b + 6] .. '}'
    h.latest = json
    add('reading', json, seq)
  end
  save()
elseif mode == 'close' then
  -- ARGV: mode, -, device, maxlen, gap ms, now ms: closes the cycle if the device has been silent past the gap
  if h.cip ~= nil and h.closed == '0' and tonumber(ARGV[6]) - tonumber(h.last) > gap then
    close()
    save()
  end
end
return out
`;

/**
 * Run once on every (re)connection, before anything is numbered: if Redis lost its data (a restart
 * without persistence) the counter continues past the highest seq any instance knew, plus a margin
 * for an instance that was behind, so numbers never repeat; device hashes missing or older than
 * this instance's copy are put back, so cycle numbering carries on.
 * KEYS: 1 seq, 2 set of devices; ARGV: known seq, margin, then device, hash JSON pairs.
 */
export const SEED = `
local current = tonumber(redis.call('GET', KEYS[1]) or '-1')
local known = tonumber(ARGV[1])
if current < 0 and known == 0 then
  redis.call('SET', KEYS[1], '0')
elseif current < known then
  redis.call('SET', KEYS[1], string.format('%d', known + tonumber(ARGV[2])))
end
local restored = 0
for i = 3, #ARGV, 2 do
  local key = ARGV[i]
  local mine = cjson.decode(ARGV[i + 1])
  local theirs = tonumber(redis.call('HGET', key, 'seq') or '-1')
  if theirs < tonumber(mine.seq) then
    local flat = {}
    for k, v in pairs(mine) do
      flat[#flat + 1] = k
      flat[#flat + 1] = v
    end
    redis.call('HSET', key, unpack(flat))
    redis.call('SADD', KEYS[2], mine.device)
    restored = restored + 1
  end
end
return restored
`;
