-- The prelude of every tally script (voweler/state/redis.py joins it to each): written as
-- CellTally is (voweler/state/cells.py), so read its methods beside these. Lua numbers are doubles,
-- exact up to 2^53: versions, serials and sequence numbers stay far below. Tests are compared as the
-- decimal strings Python sent. A script checks everything before it writes anything, because Redis
-- does not undo the writes of a script that fails half-way.
--
-- KEYS: tally (hash), counts (BITFIELD int64s), redeemed (bitmap), events (ring of 64-byte records)
-- ARGV[1..4]: layout, slots, window, log capacity; ARGV[5..7]: the caller's roster (version, test, live)
local tally, counts, redeemed, ring = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local slots, window, capacity = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local RECORD = 64

-- The tally as it stands; a new one is made on first use. One of another layout is refused.
local function load()
  local f = redis.call('HMGET', tally, 'layout', 'version', 'roster', 'test', 'live', 'serial', 'events')
  if not f[1] then
    local t = {version = 0, roster = -1, test = '0', live = string.rep('0', 64), serial = 0, events = 0}
    redis.call('HSET', tally, 'layout', ARGV[1], 'version', 0, 'roster', -1, 'test', t.test, 'live', t.live,
               'serial', 0, 'events', 0)
    return t
  end
  if f[1] ~= ARGV[1] then
    error({err = 'VWLR_LAYOUT ' .. tally .. ' holds a tally of another layout (' .. f[1] ..
                 '); delete its keys or give the tally another database'})
  end
  return {version = tonumber(f[2]), roster = tonumber(f[3]), test = f[4], live = f[5],
          serial = tonumber(f[6]), events = tonumber(f[7])}
end

-- Adopt the caller's roster (ARGV[5..7]) if it is newer. An older one is ignored, or refused
-- (false) if strict: the caller must reload the experiment.
local function adopt(t, strict)
  local version = tonumber(ARGV[5])
  if version == t.roster then return true end
  if version < t.roster then return not strict end
  if ARGV[6] ~= t.test then
    redis.call('DEL', counts)  -- a new test starts from zero
    t.test = ARGV[6]
  end
  -- One version per experiment transaction, even when several are adopted at once.
  t.live, t.roster, t.version = ARGV[7], version, t.version + (version - t.roster)
  redis.call('HSET', tally, 'test', t.test, 'live', t.live, 'roster', t.roster, 'version', t.version)
  return true
end

-- Append a record (packed by the caller) with the serial and version only the script knows.
local function log(t, record, serial, version)
  local at = (t.events % capacity) * RECORD
  redis.call('SETRANGE', ring, at, string.sub(record, 1, 32) .. struct.pack('<i8<i8', serial, version) ..
             string.sub(record, 49, 64))
  t.events = t.events + 1
end
