/* The operations on every shard of a zone: flushAll, flushExpired, getKeys, stats (locked or not). */
#include <stdlib.h>
#include <string.h>

#include "shard.h"

/*
 * The next item of a walk of the LRU list (`link`: the head, the tail, or an item's lnext or
 * lprev), or NULL at the end of the list and when the link leaves the heap or the walk has made
 * more steps than the heap holds blocks (a cycle; the shard is then marked corrupt).
 */
static shd_item *lru_step(shd_shard *z, uint32_t link, uint32_t *steps) {
  if (!link) return NULL;
  if (++*steps > z->max_blocks) return shd_corrupt(z), NULL;
  return shd_item_at(z, link);
}

/* Marks every item of every shard expired, then frees a few per shard (nginx: up to 3). */
int shd_flush_all(shd_zone *zone) {
  int r = RC_OK;
  uint32_t pids[SHD_LANES];
  const uint32_t dead = shd_lanes_dead(&zone->shards[0], pids);
  for (uint32_t i = 0; i < zone->nshards; i++) {
    shd_shard *z = &zone->shards[i];
    clockc c = {0};
    shd_lock(z);
    shd_lanes_reclaim(z, dead, pids); /* what ended processes held in reserve, back to the heap */
    shd_drain_pending(z, 0); /* the items adds without the lock linked: into the list first */
    uint32_t n = 0;
    for (shd_item *it = lru_step(z, z->h->lru_head, &n); it; it = lru_step(z, it->lnext, &n)) {
      it->expires = 1;
      if (shd_tagged(it->type)) __atomic_store_n(&it->tag, 0, __ATOMIC_RELAXED); /* expired: the lock's */
      if (n == 2) CRASH_POINT(11);
    }
    shd_expire_some(z, 0, &c);
    r = shd_unlock_with(z, r);
  }
  return r;
}

int shd_flush_expired(shd_zone *zone, uint32_t max, uint32_t *freed) {
  int r = RC_OK;
  *freed = 0;
  uint32_t pids[SHD_LANES];
  const uint32_t dead = shd_lanes_dead(&zone->shards[0], pids);
  for (uint32_t i = 0; i < zone->nshards && !(max && *freed == max); i++) {
    shd_shard *z = &zone->shards[i];
    clockc c = {0};
    shd_lock(z);
    shd_lanes_reclaim(z, dead, pids);
    shd_drain_pending(z, 0);
    uint32_t steps = 0;
    for (shd_item *it = lru_step(z, z->h->lru_tail, &steps), *prev; it; it = prev) {
      prev = lru_step(z, it->lprev, &steps); /* before the item is freed */
      if (expired(it, &c)) {
        uint32_t off = OFF(z, it), *slot = shd_slot_of(z, off);
        if (!slot) break;
        shd_item_remove(z, slot, off);
        if (++*freed == max) break;
      }
    }
    r = shd_unlock_with(z, r);
  }
  return r;
}

static int put_key(shd_buf *buf, size_t *used, const uint8_t *key, uint16_t klen) {
  size_t need = *used + 2 + klen;
  if (need > buf->cap) {
    size_t cap = buf->cap * 2 > need ? buf->cap * 2 : need;
    uint8_t *np = realloc(buf->p, cap);
    if (!np) return 0;
    buf->p = np;
    buf->cap = cap;
  }
  buf->p[*used] = (uint8_t)(klen & 0xff);
  buf->p[*used + 1] = (uint8_t)(klen >> 8);
  memcpy(buf->p + *used + 2, key, klen);
  *used = need;
  return 1;
}

/*
 * Keys, least recently used first. With several shards, every shard is locked (in index
 * order, as nothing else takes two locks) and their LRU lists are merged by stamp.
 */
int shd_get_keys(shd_zone *zone, uint32_t max, shd_buf *buf, uint32_t *count) {
  clockc c = {0};
  int r = RC_OK;
  size_t used = 0;
  shd_item *cursor[SHD_MAX_SHARDS];
  uint32_t steps[SHD_MAX_SHARDS] = {0};
  uint32_t n = zone->nshards, locked = 0;
  *count = 0;
  for (; locked < n; locked++) {
    shd_shard *z = &zone->shards[locked];
    shd_lock(z);
    shd_drain_pending(z, 0);
    cursor[locked] = lru_step(z, z->h->lru_tail, &steps[locked]);
  }
  for (;;) {
    uint32_t best = n;
    for (uint32_t i = 0; i < n; i++) {
      if (cursor[i] && (best == n || cursor[i]->stamp < cursor[best]->stamp)) best = i;
    }
    if (best == n) break;
    shd_item *it = cursor[best];
    cursor[best] = lru_step(&zone->shards[best], it->lprev, &steps[best]);
    if (expired(it, &c)) continue;
    uint16_t klen;
    const uint8_t *key = shd_key_of(&zone->shards[best], it, &klen);
    if (!key) break;
    if (!put_key(buf, &used, key, klen)) {
      r = RC_OOM << 1;
      break;
    }
    if (++*count == max) break;
  }
  while (locked > 0) r = shd_unlock_with(&zone->shards[--locked], r);
  return r;
}

int shd_stats_of(shd_zone *zone, shd_stats *s) {
  memset(s, 0, sizeof *s);
  s->capacity = zone->size;
  uint32_t pids[SHD_LANES];
  const uint32_t dead = shd_lanes_dead(&zone->shards[0], pids);
  for (uint32_t i = 0; i < zone->nshards; i++) {
    shd_shard *z = &zone->shards[i];
    shd_lock(z);
    shd_lanes_reclaim(z, dead, pids); /* free space is free of what ended processes reserved */
    shd_drain_pending(z, 0); /* so that items counts them */
    s->free_bytes += z->h->free_bytes;
    s->items += z->h->items;
    s->recoveries += z->h->recoveries;
    s->resets += z->h->resets;
    shd_unlock(z);
  }
  return RC_OK;
}

/*
 * The same counters without any lock, for the master (`tsresty status`, /metrics), which must
 * never wait on a zone: a worker stopped (SIGSTOP) or stuck while holding a shard's lock would
 * freeze the supervisor. Each counter is one aligned load (no torn number); a shard being
 * written may be counted before or after the write, so the figures can be slightly off one
 * another (free bytes of one instant, items of the next), never garbage.
 */
void shd_stats_peek(shd_zone *zone, shd_stats *s) {
  memset(s, 0, sizeof *s);
  s->capacity = zone->size;
  uint32_t pids[SHD_LANES];
  const uint32_t dead = shd_lanes_dead(&zone->shards[0], pids);
  for (uint32_t i = 0; i < zone->nshards; i++) {
    const shd_shard_hdr *h = zone->shards[i].h;
    s->free_bytes += __atomic_load_n(&h->free_bytes, __ATOMIC_RELAXED);
    /* free as the next store that needs the room, or freeSpace(), finds it (lanes.c) */
    const uint64_t ended = shd_lanes_dead_reserve(&zone->shards[i], dead);
    s->free_bytes += ended;
    s->ended_reserves += ended;
    s->items += __atomic_load_n(&h->items, __ATOMIC_RELAXED);
    const shd_lane *lanes = zone->shards[i].lanes; /* and the items adds left pending (lanes.c) */
    for (uint32_t l = 0; lanes && l < SHD_LANES; l++) s->items += __atomic_load_n(&lanes[l].pending, __ATOMIC_RELAXED);
    s->recoveries += __atomic_load_n(&h->recoveries, __ATOMIC_RELAXED);
    s->resets += __atomic_load_n(&h->resets, __ATOMIC_RELAXED);
  }
}
