// The Redis session store's writes, each one atomic script (one round trip): a save that creates a new session or
// updates a loaded one (never re-creating one that ended), with its user's set and per-user cap; a touch that
// never re-creates either. Runs in each worker. The scripts name keys they compute (a user's other sessions), so
// they need one Redis server (or a Redis Cluster with every key of an app on one slot).
import { createHash } from 'node:crypto';
import type { RedisClientType } from 'redis';

/**
 * KEYS: the session, the user's set (the session key again when no user). ARGV: json, ttl ms, mustExist (1/0),
 * hasUser (1/0), user id, now ms, cap, user field, session key prefix, sid.
 * Returns -1 when mustExist and the session is gone (nothing written); else how many of the user's older sessions
 * the cap ended. Over the cap, members whose session is gone (signed out, expired) or is someone else's now are
 * dropped first: only live sessions of this user count, and only they are ended.
 */
const save = `
local key, userKey = KEYS[1], KEYS[2]
local json, ttl = ARGV[1], ARGV[2]
local written
if ARGV[3] == '1' then
  written = redis.call('SET', key, json, 'PX', ttl, 'XX')
else
  written = redis.call('SET', key, json, 'PX', ttl)
end
if not written then return -1 end
if ARGV[4] ~= '1' then return 0 end
local user, now, cap, field, prefix, sid = ARGV[5], ARGV[6], tonumber(ARGV[7]), ARGV[8], ARGV[9], ARGV[10]
redis.call('ZADD', userKey, now, sid)
redis.call('PEXPIRE', userKey, ttl, 'NX')
redis.call('PEXPIRE', userKey, ttl, 'GT')
if redis.call('ZCARD', userKey) <= cap then return 0 end
local live = {}
for _, member in ipairs(redis.call('ZRANGE', userKey, 0, -1)) do
  local value = member ~= sid and redis.call('GET', prefix .. member)
  local mine = member == sid
  if value then
    -- A value Lua's cjson cannot decode (a lone surrogate in a note, say) stays filed under this user and counts:
    -- dropping it from the set would let that session escape "sign out everywhere" and the cap.
    local readable, session = pcall(cjson.decode, value)
    mine = not readable or (type(session) == 'table' and session[field] == user)
  end
  if mine then
    if member ~= sid then live[#live + 1] = member end
  else
    redis.call('ZREM', userKey, member)
  end
end
local ended = 0
for i = 1, #live + 1 - cap do
  redis.call('DEL', prefix .. live[i])
  redis.call('ZREM', userKey, live[i])
  ended = ended + 1
end
return ended
`;

/**
 * KEYS: the session, the user's set (the session key again when no user). ARGV: ttl ms, hasUser (1/0), now ms,
 * sid. Returns 0 when the session is gone (nothing re-created), 1 when moved. Times to live are relative, so the
 * session and its user's set expire by the same (Redis's) clock.
 */
const touch = `
if redis.call('PEXPIRE', KEYS[1], ARGV[1]) == 0 then return 0 end
if ARGV[2] == '1' and redis.call('ZSCORE', KEYS[2], ARGV[4]) then
  redis.call('ZADD', KEYS[2], 'XX', ARGV[3], ARGV[4])
  redis.call('PEXPIRE', KEYS[2], ARGV[1], 'GT')
end
return 1
`;

export const scripts = { save, touch };

const sha1 = new Map(Object.values(scripts).map((script) => [script, createHash('sha1').update(script).digest('hex')]));

/** Runs `script` by its SHA1; the first time a server has not seen it (NOSCRIPT), sends it whole. */
export async function runScript(client: RedisClientType, script: string, keys: string[], args: string[]): Promise<number> {
  const options = { keys, arguments: args };
  try {
    return (await client.evalSha(sha1.get(script)!, options)) as number;
  } catch (error) {
    if (!String((error as Error).message).startsWith('NOSCRIPT')) throw error;
    return (await client.eval(script, options)) as number;
  }
}
