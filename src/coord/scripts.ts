/**
 * The Lua scripts of the Redis coordinator: each runs atomically in Redis.
 */

/**
 * A per-tick claim. KEYS[1]: the tick's key; KEYS[2]: the timer's fence counter. ARGV[1]: the
 * claimer; ARGV[2]: the claim's lifetime (ms); ARGV[3]: the tick's due time (epoch ms); ARGV[4]:
 * how far the claimer's clock may be from Redis's (ms); ARGV[5]: how long the fence counter
 * outlives this claim (ms). Returns the fencing token (> 0) when this claimer runs the tick, 0 when
 * another one has it, -1 when the claimer's clock is too far from Redis's to tell which tick it means.
 *
 * The counter grows by one a claimed tick. Made anew (the first claim of a name, or the counter
 * expired, was evicted, or was lost with Redis's data) it starts at Redis's clock in microseconds:
 * above every token given before, since one Redis runs less than one script a microsecond (as long
 * as Redis's clock does not step back further than the counter was idle). It starts as a string
 * (seconds, then six digits of microseconds), never a Lua number, so no digit is rounded.
 */
export const CLAIM = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
if math.abs(now - tonumber(ARGV[3])) > tonumber(ARGV[4]) then return -1 end
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
  if redis.call('EXISTS', KEYS[2]) == 0 then
    redis.call('SET', KEYS[2], t[1] .. string.format('%06d', tonumber(t[2])))
  end
  local fence = redis.call('INCR', KEYS[2])
  redis.call('PEXPIRE', KEYS[2], ARGV[5])
  return fence
end
return 0
`;

/** Records a tick as the timer's last run, unless a later one is recorded. KEYS[1]; ARGV[1]: due. */
export const LAST_RUN = `
local last = tonumber(redis.call('GET', KEYS[1]) or '0')
if tonumber(ARGV[1]) > last then redis.call('SET', KEYS[1], ARGV[1]) end
return 1
`;
