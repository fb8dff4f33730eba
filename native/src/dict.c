/* The key-value operations: store (set, add, replace, their safe forms, delete), get, incr,
   ttl and expire. See shard.c for what they are made of and how they stay crash-safe. */
#include <string.h>

#include "shard.h"

static inline uint64_t num_bits(double num) {
  uint64_t bits;
  memcpy(&bits, &num, sizeof bits);
  return bits;
}

static inline double bits_num(uint64_t bits) {
  double num;
  memcpy(&num, &bits, sizeof num);
  return num;
}

/*
 * A set that changes only the number (or boolean) of a live item and keeps its flags and its lack
 * of expiry is made in place, as nginx makes a set of a value of the same length: here one aligned
 * store (crash-safe like incr's), no allocation, and the item moved as a use (shd_use), so that
 * sets of the same keys from several processes touch the shard's lock, the bucket and the item.
 */
static int store_in_place(shd_shard *z, shd_item *it, const shd_value *v, uint64_t ttl_ms, uint32_t uflags) {
  if (!shd_tagged((uint8_t)v->type) || it->type != v->type || ttl_ms != 0 || it->expires != 0 ||
      it->uflags != uflags)
    return 0;
  shd_use(z, it);
  /* the commit: one aligned store (a write without the lock lands before it or sees it) */
  __atomic_store_n(&it->v.bits, num_bits(v->num), __ATOMIC_RELAXED);
  return 1;
}

/* A number's or boolean's item is placed on cache lines of its own (alloc.c, blk_alloc_paired),
   from this process's reserve where it has one (lanes.c, shd_lane_take). */
static uint32_t item_alloc(shd_shard *z, uint32_t need, uint8_t type) {
  if (!shd_tagged(type)) return blk_alloc(z, need, BLK_ITEM);
  uint32_t off = need <= SHD_LINE_PAIR ? shd_lane_take(z) : 0;
  return off ? off : blk_alloc_paired(z, need, BLK_ITEM);
}

static int store_locked(shd_shard *z, const shd_key *k, const shd_value *v, uint64_t ttl_ms, uint32_t uflags,
                        int op, clockc *c) {
  int forcible = 0;
  uint32_t old;
  uint32_t *slot = shd_lookup(z, k, &old);
  int stale = old && expired(ITEM(z, old), c);
  if (old && !stale && !(op & OP_ADD) && store_in_place(z, ITEM(z, old), v, ttl_ms, uflags)) return RC_OK;
  if (old) shd_lru_touch(z, ITEM(z, old));
  if ((op & OP_REPLACE) && (!old || stale)) return RC_NOT_FOUND << 1;
  if ((op & OP_ADD) && old && !stale) return RC_EXISTS << 1;
  if (v->type == 0) {
    if (old) {
      z->deleting = 1; /* a pair may go back to this process's reserve (lanes.c, shd_lane_keep) */
      shd_item_remove(z, slot, old);
      z->deleting = 0;
    }
    return RC_OK;
  }
  uint64_t need = (uint64_t)ITEM_HEADER + k->len +
                  (v->type == T_STRING || v->type == T_BINARY ? v->len : 0);
  /* Too large for any zone: blk_alloc refuses it, after the evictions nginx also makes. */
  if (need > 0x7fffffffu) need = 0x7fffffffu;
  uint32_t nb = item_alloc(z, (uint32_t)need, (uint8_t)v->type);
  /* what ended processes' lanes hold is the first memory to take back (lanes.c) */
  if (!nb && shd_lanes_reclaim_for_room(z, c)) nb = item_alloc(z, (uint32_t)need, (uint8_t)v->type);
  if (!nb && old) {
    /* As nginx: the old value's memory is the first to reuse (this one step is not atomic
       against a crash: the key can end up missing, never half-written). */
    shd_item_remove(z, slot, old);
    old = 0;
    nb = item_alloc(z, (uint32_t)need, (uint8_t)v->type);
  }
  int evicted = 0;
  if (!nb) {
    if (op & OP_SAFE) return RC_NO_MEMORY << 1;
    for (int i = 0; i < 30 && !nb; i++) {
      /* an empty list may only mean that adds without the lock left their items out of it */
      if (shd_expire_some(z, 0, c) == 0 && (!shd_drain_pending(z, 0) || shd_expire_some(z, 0, c) == 0)) break;
      forcible = evicted = 1;
      nb = item_alloc(z, (uint32_t)need, (uint8_t)v->type);
    }
    if (!nb) return (RC_NO_MEMORY << 1) | forcible;
  }
  shd_item_fill(z, nb, k, v, ttl_ms, uflags, c);
  CRASH_POINT(2);
  if (evicted && old) slot = shd_lookup(z, k, &old); /* an eviction may have freed it */
  shd_item *it = ITEM(z, nb);
  if (!old) {
    if (shd_link_new(z, k, nb, &old)) { /* the commit */
      CRASH_POINT(3);
      z->h->items++;
    } else if (!old || (op & OP_ADD)) {
      /* an add without the lock made the key meanwhile (or the chain left the heap) */
      blk_free(z, nb);
      return old ? RC_EXISTS << 1 : forcible;
    } else if (!(slot = shd_slot_of(z, old))) {
      blk_free(z, nb);
      return forcible;
    }
  }
  if (old) {
    it->hnext = ITEM(z, old)->hnext;
    shd_slot_replace(z, slot, old, nb); /* the commit: the key has its new value */
    CRASH_POINT(3);
    shd_item_release(z, old);
  }
  shd_lru_push(z, it);
  return forcible;
}

static int write_unlocked(shd_shard *z, const shd_key *k, int incr, const shd_value *v, uint32_t uflags,
                          double *result);

/* OP_IF_NUMBER's condition, under the lock: the key's live item holds the number `expect`. */
static int holds_number(shd_shard *z, const shd_key *k, double expect, clockc *c) {
  uint32_t off;
  shd_lookup(z, k, &off);
  if (!off) return 0;
  shd_item *it = ITEM(z, off);
  return !expired(it, c) && it->type == T_NUMBER &&
         __atomic_load_n(&it->v.bits, __ATOMIC_RELAXED) == num_bits(expect);
}

static int find_unlocked_from(shd_shard *z, const shd_key *k, uint32_t off, shd_item **found);

shd_op_counts shd_adds;

/*
 * An add of a number or boolean without the lock (lanes.c has the lanes it draws on). The bucket
 * is read, head and version, and the chain walked from that head as a get without the lock walks
 * it; every change of a chain, at its head or deeper, by a locker or an add, counts up its
 * bucket's version (shard.c). A key found answers "exists" if the bucket is unchanged after the
 * walk. A key missing: an item is filled in a block of this process's reserve and linked at the
 * head by one compare-and-swap of the bucket's head and version as read before the walk, so the
 * swap succeeds only on the chain the walk saw without the key, whatever else changed in the
 * shard (the shard's seq, which every locker writes, is not read: adds do not wait on the lock's
 * cache line). The item enters the LRU list later (lanes.c). An expired item found, a shard
 * without lanes or under recovery, and anything out of the ordinary go to the locked path.
 * 1 = done (*r).
 */
static int add_unlocked(shd_zone *zone, shd_shard *z, const shd_key *k, const shd_value *v, uint64_t ttl_ms,
                        uint32_t uflags, int *r) {
  if (!z->lanes || !shd_tagged(v->type) || ITEM_HEADER + (uint64_t)k->len > SHD_LINE_PAIR)
    return 0;
  if (z->lane < 0 && !shd_lane_claim(zone)) return 0;
  if (z->lane_dry) {
    z->lane_dry--; /* a full shard: its adds evict under the lock, as before */
    return 0;
  }
  shd_lane *l = &z->lanes[z->lane];
  if (l->count == 0 || z->pending == SHD_PENDING_MAX || z->lane_stale) {
    shd_lock(z);
    shd_lane_sync(z);
    if (shd_unlock(z)) return 0;
    if (l->count == 0) {
      z->lane_dry = 64;
      return 0;
    }
  }
  shd_bucket *b = &z->buckets[k->hash & z->bucket_mask];
  clockc c = {0};
  for (int attempt = 0; attempt < 4; attempt++) {
    shd_bucket seen;
    __atomic_load(b, &seen, __ATOMIC_ACQUIRE);
    if (__atomic_load_n(&l->recovering, __ATOMIC_ACQUIRE)) return 0; /* after the bucket: recover.c */
    shd_item *it;
    if (!find_unlocked_from(z, k, seen.head, &it)) return 0;
    if (it) {
      /* found: the answer holds if the chain did not change during the walk */
      uint64_t expires = LOAD(it->expires);
      __atomic_thread_fence(__ATOMIC_ACQUIRE);
      shd_bucket now;
      __atomic_load(b, &now, __ATOMIC_RELAXED);
      if (now.head != seen.head || now.ver != seen.ver) {
        shd_adds.retried++;
        continue;
      }
      if (expires != 0 && expires <= now_of(&c)) return 0;
      shd_adds.unlocked++;
      *r = RC_EXISTS << 1;
      return 1;
    }
    uint32_t count = l->count;
    if (count == 0 || count > SHD_LANE_BLOCKS) return 0; /* emptied by a reset (shard_reset) */
    uint32_t nb = l->blocks[count - 1];
    if (!shd_span(z, nb, SHD_LINE_PAIR)) return 0;
    shd_item *n = ITEM(z, nb);
    /* pending, and this lane's at every instant (LANE_MARK: lanes.c tells its blocks by it) */
    n->lnext = LANE_MARK(z->lane);
    STORE_ORDER();
    n->lprev = LRU_PENDING;
    shd_item_fill(z, nb, k, v, ttl_ms, uflags, &c);
    n->hnext = seen.head;
    n->stamp = shd_stamp(); /* in every zone: a drain places pending items in this order (lanes.c) */
    /* counted before the link, so that statistics without the lock and a drain after a crash
       at any point see it */
    __atomic_add_fetch(&l->pending, 1, __ATOMIC_RELAXED);
    CRASH_POINT(13);
    shd_bucket want = {nb, seen.ver + 1};
    if (__atomic_compare_exchange(b, &seen, &want, 0, __ATOMIC_RELEASE, __ATOMIC_RELAXED)) {
      CRASH_POINT(14);
      __atomic_store_n(&l->count, count - 1, __ATOMIC_RELEASE); /* after the link: see lanes.c */
      z->pending_items[z->pending] = nb;
      z->pending_tags[z->pending++] = n->tag;
      shd_adds.unlocked++;
      *r = RC_OK;
      return 1;
    }
    shd_pending_down(&l->pending);
    shd_adds.retried++;
  }
  return 0;
}

int shd_store(shd_zone *zone, const shd_key *k, const shd_value *v, uint64_t ttl_ms, uint32_t uflags, int op,
              double expect) {
  shd_shard *z = shard_of(zone, k->hash);
  clockc c = {0};
  if ((op & OP_ADD) && !(op & OP_IF_NUMBER) && v->type != 0) {
    int r;
    if (add_unlocked(zone, z, k, v, ttl_ms, uflags, &r)) return r;
    if (shd_tagged(v->type)) shd_adds.locked++;
  }
  /* a conditional store compares under the lock: never the write without it */
  if (shd_tagged(v->type) && ttl_ms == 0 && !(op & (OP_ADD | OP_IF_NUMBER))) {
    double stored;
    if (write_unlocked(z, k, 0, v, uflags, &stored)) return RC_OK;
    shd_writes.locked++;
  }
  if (z->lane == -1 && shd_tagged(v->type)) shd_lane_claim(zone); /* item_alloc's reserve */
  shd_lock(z);
  shd_expire_some(z, 1, &c);
  int r = (op & OP_IF_NUMBER) && !holds_number(z, k, expect, &c)
              ? RC_NOT_FOUND << 1
              : store_locked(z, k, v, ttl_ms, uflags, op, &c);
  return shd_unlock_with(z, r);
}

/* ---------------------------------------------------------------- get */

/* What a read without the lock leaves to the locked path: longer chains, larger values. */
#define UNLOCKED_STEPS 1024u
#define UNLOCKED_VALUE_MAX (64u * 1024u)

/*
 * The key's item as the shard holds it now, looked up from the chain's head `off` without the
 * lock while lockers may be changing the shard: every offset and length is loaded once and
 * checked against the heap before it is used, so a torn walk stays inside the zone and ends; what
 * it found counts only if the caller then sees that nothing changed meanwhile (the shard's seq;
 * for an add, the bucket's version). 1 = *found is the item, or NULL when the key is missing;
 * 0 = the walk met something out of the ordinary.
 */
static int find_unlocked_from(shd_shard *z, const shd_key *k, uint32_t off, shd_item **found) {
  const uint64_t lo = z->heap_start, hi = z->heap_end;
  for (uint32_t steps = 0; off; steps++) {
    if (steps == UNLOCKED_STEPS || off < lo || off + (uint64_t)ITEM_HEADER > hi || (off & (SHD_ALIGN - 1)))
      return 0;
    shd_item *at = ITEM(z, off);
    uint16_t klen = LOAD(at->klen);
    if (LOAD(at->hash) == k->hash && klen == k->len) {
      if (off + (uint64_t)ITEM_HEADER + klen > hi) return 0;
      if (memcmp(at->data, k->bytes, klen) == 0) {
        *found = at;
        return 1;
      }
    }
    off = LOAD(at->hnext);
  }
  *found = NULL;
  return 1;
}

static int find_unlocked(shd_shard *z, const shd_key *k, shd_item **found) {
  return find_unlocked_from(z, k, LOAD(z->buckets[k->hash & z->bucket_mask].head), found);
}

/*
 * One read of the key's item without the lock (find_unlocked). 1 = *got and *r are the answer;
 * 0 = the locked path must answer (an expired item, a read that moves the item in the LRU list,
 * a value too large to copy on a guess, anything out of the ordinary).
 */
static int read_unlocked(shd_shard *z, const shd_key *k, shd_got *got, shd_buf *buf, clockc *c, int *r) {
  shd_item *it;
  if (!find_unlocked(z, k, &it)) return 0;
  *r = RC_OK;
  got->type = 0;
  if (it == NULL) return 1;
  const uint64_t hi = z->heap_end, off = OFF(z, it), klen = k->len;
  uint64_t expires = LOAD(it->expires);
  if ((expires != 0 && expires <= now_of(c)) || read_bump_due(it, shd_read_epoch())) return 0;
  uint8_t type = LOAD(it->type);
  if (type == T_LIST) {
    *r = RC_IS_LIST << 1;
    return 1;
  }
  if (type == T_STRING || type == T_BINARY) {
    uint32_t vlen = LOAD(it->vlen);
    if (off + (uint64_t)ITEM_HEADER + klen + vlen > hi || (vlen > buf->cap && vlen > UNLOCKED_VALUE_MAX)) return 0;
    if (!shd_copy_out(buf, it->data + klen, vlen)) return 0;
    got->len = vlen;
  } else if (type != T_NUMBER && type != T_BOOLEAN) {
    return 0;
  }
  got->type = type;
  got->uflags = LOAD(it->uflags);
  got->ascii = LOAD(it->ascii);
  got->num = it->v.num; /* checked like the rest by the caller */
  return 1;
}

shd_op_counts shd_reads;

/*
 * get without the lock where it can (a seqlock read: see shd_lock): a read that finds a live
 * item already moved to the LRU head this second changes nothing, so it writes nothing, and
 * gets from many processes do not pull one cache line back and forth.
 */
static int get_unlocked(shd_shard *z, const shd_key *k, shd_got *g, shd_buf *buf, int *r) {
  clockc c = {0};
  for (int attempt = 0; attempt < 4; attempt++) {
    uint32_t before = __atomic_load_n(&z->h->seq, __ATOMIC_ACQUIRE);
    if (before & 1u) {
      shd_reads.retried++;
      shd_cpu_relax(); /* a locker is in: its critical section lasts a few hundred ns */
      continue;
    }
    shd_got got = *g;
    int rc = RC_OK; /* only an answer that holds reaches *r: the locked path starts from RC_OK */
    int answered = read_unlocked(z, k, &got, buf, &c, &rc);
    __atomic_thread_fence(__ATOMIC_ACQUIRE); /* the reads above happen before the check */
    if (__atomic_load_n(&z->h->seq, __ATOMIC_RELAXED) != before) {
      shd_reads.retried++;
      continue;
    }
    if (!answered) return 0;
    *g = got;
    *r = rc;
    shd_reads.unlocked++;
    return 1;
  }
  return 0;
}

int shd_get(shd_zone *zone, const shd_key *k, int stale, shd_got *g, shd_buf *buf) {
  shd_shard *z = shard_of(zone, k->hash);
  clockc c = {0};
  int r = RC_OK;
  g->type = 0;
  g->stale = 0;
  g->uflags = 0;
  if (!stale && get_unlocked(z, k, g, buf, &r)) return r;
  shd_reads.locked++;
  shd_lock(z);
  if (!stale) shd_expire_some(z, 1, &c);
  uint32_t off;
  shd_lookup(z, k, &off);
  if (off) {
    shd_item *it = ITEM(z, off);
    shd_use(z, it);
    int old = expired(it, &c);
    if (old && !stale) {
      /* missing */
    } else if (it->type == T_LIST) {
      r = RC_IS_LIST << 1;
    } else {
      g->type = it->type;
      g->uflags = it->uflags;
      g->stale = old;
      g->ascii = it->ascii;
      g->num = it->v.num;
      g->len = 0;
      if (g->type == T_STRING || g->type == T_BINARY) {
        const uint8_t *value = shd_value_of(z, it, &g->len);
        if (value && !shd_copy_out(buf, value, g->len)) r = RC_OOM << 1;
      }
    }
  }
  return shd_unlock_with(z, r);
}

/* ---------------------------------------------------------------- writes of numbers without the lock */

shd_op_counts shd_writes;

/*
 * An incr of a number, or a set of a number or boolean over one of the same type and flags,
 * without the lock: on a live item without expiry that needs no LRU move this second (the cases
 * in which the locked path would store one number in place and move nothing). The item is found
 * as a lock-free get finds it; then its value is replaced and its tag compared in one atomic
 * step (shd_cas16). A lock holder sets the tag to 0 before it frees the item or expires it, and
 * gives it a new one when it changes its expiry (a new type or new flags make a new item), and
 * rewrites a value only with one atomic store or compare-and-swap: so the step succeeds only on
 * the same live item, in the state that was checked, and is ordered with every other write of
 * the value. Writes of different keys from several processes thus change only
 * their items' memory, never a shard's lock or header, which would otherwise move between the
 * processors' caches at every write; and a process killed at any instant leaves the write made or
 * not. 1 = made (*result: the value stored); 0 = the locked path must make it.
 */
static int write_unlocked(shd_shard *z, const shd_key *k, int incr, const shd_value *v, uint32_t uflags,
                          double *result) {
  if (!SHD_HAS_CAS16) return 0;
  for (int attempt = 0; attempt < 4; attempt++) {
    uint32_t before = __atomic_load_n(&z->h->seq, __ATOMIC_ACQUIRE);
    if (before & 1u) {
      shd_writes.retried++;
      shd_cpu_relax(); /* a locker is in */
      continue;
    }
    shd_item *it;
    uint64_t pair[2] = {0, 0}; /* the value's bits and the tag, as the step compares them */
    int usable = find_unlocked(z, k, &it) && it != NULL;
    if (usable) {
      pair[0] = LOAD(it->v.bits);
      pair[1] = LOAD(it->tag);
      uint8_t type = LOAD(it->type);
      usable = pair[1] != 0 && LOAD(it->expires) == 0 && !read_bump_due(it, shd_read_epoch()) &&
               (incr ? type == T_NUMBER : type == v->type && LOAD(it->uflags) == uflags);
    }
    __atomic_thread_fence(__ATOMIC_ACQUIRE); /* the reads above happen before the check */
    if (__atomic_load_n(&z->h->seq, __ATOMIC_RELAXED) != before) {
      shd_writes.retried++;
      continue;
    }
    if (!usable) return 0;
    CRASH_POINT(12); /* the item found; a lock holder may free it before the step below */
    const uint64_t tag = pair[1];
    for (;;) {
      double value = incr ? bits_num(pair[0]) + v->num : v->num;
      const uint64_t desired[2] = {num_bits(value), tag};
      if (shd_cas16(&it->v, pair, desired)) {
        *result = value;
        shd_writes.unlocked++;
        return 1;
      }
      shd_writes.retried++;
      if (pair[1] != tag) break; /* not the same item, or not in the same state: find it again */
    }
  }
  return 0;
}

/* ---------------------------------------------------------------- incr */

int shd_incr(shd_zone *zone, const shd_key *k, double delta, int has_init, double init, uint64_t init_ttl_ms,
             double *result) {
  shd_shard *z = shard_of(zone, k->hash);
  clockc c = {0};
  int r;
  const shd_value by = {T_NUMBER, NULL, 0, 0, delta};
  if (write_unlocked(z, k, 1, &by, 0, result)) return RC_OK;
  shd_writes.locked++;
  if (z->lane == -1 && has_init) shd_lane_claim(zone); /* item_alloc's reserve */
  shd_lock(z);
  shd_expire_some(z, 1, &c);
  uint32_t off;
  shd_lookup(z, k, &off);
  if (off && expired(ITEM(z, off), &c)) {
    shd_lru_touch(z, ITEM(z, off)); /* as a store of the initial value would */
    off = 0;
  }
  if (off) {
    shd_item *it = ITEM(z, off);
    shd_use(z, it);
    if (it->type != T_NUMBER) {
      r = RC_NOT_A_NUMBER << 1;
    } else {
      /* one atomic step: writes without the lock may be changing the value meanwhile */
      uint64_t bits = __atomic_load_n(&it->v.bits, __ATOMIC_RELAXED);
      double value;
      do value = bits_num(bits) + delta;
      while (!__atomic_compare_exchange_n(&it->v.bits, &bits, num_bits(value), 0, __ATOMIC_RELAXED,
                                          __ATOMIC_RELAXED));
      *result = value;
      r = RC_OK;
    }
  } else if (!has_init) {
    r = RC_NOT_FOUND << 1;
  } else {
    shd_value v = {T_NUMBER, NULL, 0, 0, init + delta};
    r = store_locked(z, k, &v, init_ttl_ms, 0, OP_SET, &c);
    *result = v.num;
  }
  return shd_unlock_with(z, r);
}

/* ---------------------------------------------------------------- ttl, expire */

/*
 * ttl (set = 0: *ms = milliseconds left, negative for an expired item not yet freed, as
 * OpenResty; an item that expires in this very millisecond reports -1, because 0 means
 * "never") and expire (set = 1: a new expiry, which also revives such an item). Neither
 * moves the item in the LRU list: OpenResty's get_ttl and set_expire look the key up with
 * shdict_peek, which leaves the LRU alone (expire is one 8-byte store, as a crash wants).
 */
int shd_expiry(shd_zone *zone, const shd_key *k, int set, uint64_t ttl_ms, double *ms) {
  shd_shard *z = shard_of(zone, k->hash);
  clockc c = {0};
  int r = RC_OK;
  shd_lock(z);
  uint32_t off;
  shd_lookup(z, k, &off);
  if (!off) {
    r = RC_NOT_FOUND << 1;
  } else {
    shd_item *it = ITEM(z, off);
    if (set) {
      it->expires = ttl_ms ? now_of(&c) + ttl_ms : 0;
      /* a write without the lock that found the item before this fails (write_unlocked) */
      if (shd_tagged(it->type)) __atomic_store_n(&it->tag, shd_new_tag(z), __ATOMIC_RELAXED);
    }
    else if (it->expires == 0) *ms = 0;
    else {
      int64_t left = (int64_t)(it->expires - now_of(&c));
      *ms = left == 0 ? -1 : (double)left;
    }
  }
  return shd_unlock_with(z, r);
}
