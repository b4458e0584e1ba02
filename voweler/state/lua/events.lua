-- Up to ARGV[6] log records from sequence number ARGV[5] (or the oldest kept): {first, records}.
local t = load()
local since, limit = tonumber(ARGV[5]), tonumber(ARGV[6])
-- As CellTally: the capacity - 1 newest records are readable.
local first = math.max(since, t.events - (capacity - 1), 0)
local last = math.min(t.events, first + limit)
if last <= first then return {first, ''} end
local start, stop = first % capacity, (last - 1) % capacity + 1
if start < stop then
  return {first, redis.call('GETRANGE', ring, start * RECORD, stop * RECORD - 1)}
end
return {first, redis.call('GETRANGE', ring, start * RECORD, capacity * RECORD - 1) ..
               redis.call('GETRANGE', ring, 0, stop * RECORD - 1)}
