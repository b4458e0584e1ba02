-- Count one impression of arm slot ARGV[8] and log the serve (ARGV[9], a record without its
-- serial and version). Answers {0, version, serial}, or {1, roster} if the caller's roster is stale.
local t = load()
if not adopt(t, true) then return {1, t.roster} end
local uid, serial = tonumber(ARGV[8]), t.serial
t.version = t.version + 1
redis.call('BITFIELD', counts, 'INCRBY', 'i64', '#' .. uid, 1)
-- This serial's bit last belonged to serial - window, now too old to redeem: clear it for this one.
redis.call('SETBIT', redeemed, serial % window, 0)
log(t, ARGV[9], serial, t.version)
redis.call('HSET', tally, 'version', t.version, 'serial', serial + 1, 'events', t.events)
return {0, t.version, serial}
