-- The bandit's 32-byte secret: ARGV[1] if none was stored yet, else the stored one.
redis.call('SET', KEYS[1], ARGV[1], 'NX')
return redis.call('GET', KEYS[1])
