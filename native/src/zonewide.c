/* The operations on every shard of a zone: flushAll, flushExpired, getKeys, stats (locked or not). */
#include <stdlib.h>
#include <string.h>

#include "shard.h"

/* Marks every item of every shard expired, then frees a few per shard (nginx: up to 3). */
int shd_flush_all(shd_zone *zone) {
  for (uint32_t i = 0; i < zone->nshards; i++) {
    shd_shard *z = &zone->shards[i];
    clockc c = {0};
    LOCK_OR_FAIL(z);
    int n = 0;
    for (uint32_t off = z->h->lru_head; off; off = ITEM(z, off)->lnext) {
      shd_item *it = ITEM(z, off);
      it->expires = 1;
      if (shd_tagged(it->type)) __atomic_store_n(&it->tag, 0, __ATOMIC_RELAXED); /* expired: the lock's */
      if (++n == 2) CRASH_POINT(11);
    }
    shd_expire_some(z, 0, &c);
    shd_unlock(z);
  }
  return RC_OK;
}

int shd_flush_expired(shd_zone *zone, uint32_t max, uint32_t *freed) {
  *freed = 0;
  for (uint32_t i = 0; i < zone->nshards && !(max && *freed == max); i++) {
    shd_shard *z = &zone->shards[i];
    clockc c = {0};
    LOCK_OR_FAIL(z);
    uint32_t off = z->h->lru_tail;
    while (off) {
      shd_item *it = ITEM(z, off);
      uint32_t prev = it->lprev;
      if (expired(it, &c)) {
        shd_item_remove(z, shd_slot_of(z, off), off);
        if (++*freed == max) break;
      }
      off = prev;
    }
    shd_unlock(z);
  }
  return RC_OK;
}

static int put_key(shd_buf *buf, size_t *used, const shd_item *it) {
  size_t need = *used + 2 + it->klen;
  if (need > buf->cap) {
    size_t cap = buf->cap * 2 > need ? buf->cap * 2 : need;
    uint8_t *np = realloc(buf->p, cap);
    if (!np) return 0;
    buf->p = np;
    buf->cap = cap;
  }
  buf->p[*used] = (uint8_t)(it->klen & 0xff);
  buf->p[*used + 1] = (uint8_t)(it->klen >> 8);
  memcpy(buf->p + *used + 2, it->data, it->klen);
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
  uint32_t cursor[SHD_MAX_SHARDS];
  uint32_t n = zone->nshards, locked = 0;
  *count = 0;
  for (; locked < n; locked++) {
    if (shd_lock(&zone->shards[locked]) != 0) {
      r = RC_LOCK_FAILED << 1;
      goto out;
    }
    cursor[locked] = zone->shards[locked].h->lru_tail;
  }
  for (;;) {
    uint32_t best = n;
    for (uint32_t i = 0; i < n; i++) {
      if (cursor[i] && (best == n || ITEM(&zone->shards[i], cursor[i])->stamp < ITEM(&zone->shards[best], cursor[best])->stamp)) best = i;
    }
    if (best == n) break;
    shd_shard *z = &zone->shards[best];
    shd_item *it = ITEM(z, cursor[best]);
    cursor[best] = it->lprev;
    if (expired(it, &c)) continue;
    if (!put_key(buf, &used, it)) {
      r = RC_OOM << 1;
      break;
    }
    if (++*count == max) break;
  }
out:
  while (locked > 0) shd_unlock(&zone->shards[--locked]);
  return r;
}

int shd_stats_of(shd_zone *zone, shd_stats *s) {
  memset(s, 0, sizeof *s);
  s->capacity = zone->size;
  for (uint32_t i = 0; i < zone->nshards; i++) {
    shd_shard *z = &zone->shards[i];
    LOCK_OR_FAIL(z);
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
  for (uint32_t i = 0; i < zone->nshards; i++) {
    const shd_shard_hdr *h = zone->shards[i].h;
    s->free_bytes += __atomic_load_n(&h->free_bytes, __ATOMIC_RELAXED);
    s->items += __atomic_load_n(&h->items, __ATOMIC_RELAXED);
    s->recoveries += __atomic_load_n(&h->recoveries, __ATOMIC_RELAXED);
    s->resets += __atomic_load_n(&h->resets, __ATOMIC_RELAXED);
  }
}
