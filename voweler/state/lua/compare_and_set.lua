-- A Store's commit: write the new frame (ARGV[2]) only if the stored header is still the one the
-- change was computed from (ARGV[1], empty if there was no frame). Answers 1 if written, else the
-- frame that won, for the caller to compute its change again from.
if redis.call('GETRANGE', KEYS[1], 0, 39) ~= ARGV[1] then
  return redis.call('GET', KEYS[1])
end
redis.call('SET', KEYS[1], ARGV[2])
return 1
