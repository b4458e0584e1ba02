-- The current test's counters, read at one moment after adopting a newer roster.
local t = load()
adopt(t, false)
return {t.version, t.roster, t.test, t.serial, t.events, redis.call('GET', counts) or ''}
