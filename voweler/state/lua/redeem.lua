-- Accept the reward of ticket (test ARGV[8], slot ARGV[9], serial ARGV[10]) once; ARGV[11] is 1 for
-- a click; ARGV[12] the record to log. Answers {0, outcome, version} (outcome as _OUTCOMES in redis.py),
-- or {1, roster} if the caller's roster is stale.
local t = load()
if not adopt(t, true) then return {1, t.roster} end
local test, uid, serial, clicked = ARGV[8], tonumber(ARGV[9]), tonumber(ARGV[10]), ARGV[11] == '1'
if test ~= t.test then return {0, 4, t.version} end
if string.sub(t.live, uid + 1, uid + 1) ~= '1' then return {0, 5, t.version} end
if serial >= t.serial then return {0, 3, t.version} end
if serial < t.serial - window then return {0, 2, t.version} end
local bit = serial % window
if redis.call('GETBIT', redeemed, bit) == 1 then return {0, 1, t.version} end
redis.call('SETBIT', redeemed, bit, 1)
if clicked then
  redis.call('BITFIELD', counts, 'INCRBY', 'i64', '#' .. (slots + uid), 1)
end
t.version = t.version + 1
log(t, ARGV[12], serial, t.version)
redis.call('HSET', tally, 'version', t.version, 'events', t.events)
return {0, 0, t.version}
