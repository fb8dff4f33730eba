/*
 * The operations. Each takes the zone's lock once, does its work and releases it; no
 * JavaScript runs and no Node-API call is made while the lock is held (values are copied
 * out into a buffer of this process first).
 *
 * Crash safety: every change to what recovery treats as authoritative (block headers, hash
 * chains, a list's next links, a committed item's number or expiry) is one aligned store,
 * made after everything it publishes is written (STORE_ORDER). A new item is filled while
 * unreachable and published by one store into its hash chain; a replaced item is swapped
 * by one store; a removed one is unlinked by one store and freed afterwards. So a holder
 * killed at any instant leaves each key with its old value or its new one, never a mix;
 * what it can leave behind (an unreachable block, a half-moved LRU entry, stale free
 * lists or counters) is derived state that shard_recover() rebuilds. CRASH_POINT(n) marks
 * the places the crash tests stop a process at.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dict.h"

static inline uint64_t mix(uint64_t a, uint64_t b) {
  __uint128_t r = (__uint128_t)a * b;
  return (uint64_t)r ^ (uint64_t)(r >> 64);
}

uint32_t shd_hash(uint64_t seed, const uint8_t *p, size_t n) {
  uint64_t h = seed ^ (n * 0x9E3779B97F4A7C15ull);
  while (n >= 8) {
    uint64_t w;
    memcpy(&w, p, 8);
    h = mix(h ^ w, 0xA0761D6478BD642Full);
    p += 8;
    n -= 8;
  }
  uint64_t w = 0;
  for (size_t i = 0; i < n; i++) w |= (uint64_t)p[i] << (8 * i);
  h = mix(h ^ w ^ 0xE7037ED1A0B428DBull, 0x8EBC6AF09C88C6E3ull);
  return (uint32_t)(h ^ (h >> 32));
}

/* Milliseconds of CLOCK_MONOTONIC: one clock for every process of the host. */
uint64_t shd_now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/*
 * A cheap clock for LRU stamps, read at every use of an item in a sharded zone: the CPU's
 * counter where it runs at a constant rate shared by all cores (x86-64's TSC, ARM's
 * virtual counter), else CLOCK_MONOTONIC. A skew between cores could only reorder getKeys
 * among items used within the same few nanoseconds.
 */
uint64_t shd_stamp(void) {
#if defined(__x86_64__)
  return __builtin_ia32_rdtsc();
#elif defined(__aarch64__)
  uint64_t v;
  __asm__ __volatile__("mrs %0, cntvct_el0" : "=r"(v));
  return v;
#else
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
#endif
}

/* A key's shard: the top bits of its hash (the low bits pick its bucket). */
static inline shd_shard *shard_of(shd_zone *zone, uint32_t hash) {
  return zone->nshards == 1 ? &zone->shards[0] : &zone->shards[hash >> (32 - zone->h->shard_bits)];
}

/* The clock is read at most once per operation, and only when an expiry needs it. */
typedef struct {
  uint64_t ms;
} clockc;
static inline uint64_t now_of(clockc *c) { return c->ms ? c->ms : (c->ms = shd_now_ms()); }
static inline int expired(const shd_item *it, clockc *c) { return it->expires != 0 && it->expires <= now_of(c); }

/*
 * Critical sections last a few hundred nanoseconds, so a contended locker spins a little
 * (reading the lock word, then one trylock) before it sleeps in pthread_mutex_lock: a futex
 * sleep and wake cost microseconds each and would make two busy processes slower than one.
 * glibc's robust mutex word is 0 when free (a dead owner leaves FUTEX_OWNER_DIED, which ends
 * the spin in the blocking lock that reports EOWNERDEAD).
 */
static inline void cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  __asm__ __volatile__("yield" ::: "memory");
#endif
}

int shd_lock(shd_shard *z) {
  pthread_mutex_t *m = &z->h->lock;
  int rc;
  for (int spins = 0; spins < 2000; spins++) {
#ifdef __GLIBC__
    if (__atomic_load_n(&m->__data.__lock, __ATOMIC_RELAXED) == 0) {
#else
    if (spins % 16 == 0) { /* no portable way to peek at the lock word: try now and then */
#endif
      rc = pthread_mutex_trylock(m);
      if (rc == 0) return 0;
      if (rc != EBUSY) goto slow;
    }
    cpu_relax();
  }
  rc = pthread_mutex_lock(m);
slow:
  if (__builtin_expect(rc == 0, 1)) return 0;
  if (rc == EOWNERDEAD) {
    shard_recover(z);
    z->h->recoveries++;
    pthread_mutex_consistent(&z->h->lock);
    return 0;
  }
  return rc;
}

void shd_unlock(shd_shard *z) { pthread_mutex_unlock(&z->h->lock); }

#define LOCK_OR_FAIL(z)                            \
  do {                                             \
    if (shd_lock(z) != 0) return RC_LOCK_FAILED << 1; \
  } while (0)

/* ---------------------------------------------------------------- index and LRU */

/* The slot (bucket head or predecessor's hnext) that holds the key's item, or the bucket. */
static uint32_t *lookup(shd_shard *z, const shd_key *k, uint32_t *found) {
  uint32_t *bucket = &z->buckets[k->hash & z->h->bucket_mask];
  uint32_t *slot = bucket;
  for (uint32_t off = *slot; off; off = *slot) {
    shd_item *it = ITEM(z, off);
    if (it->hash == k->hash && it->klen == k->len && memcmp(it->data, k->bytes, k->len) == 0) {
      *found = off;
      return slot;
    }
    slot = &it->hnext;
  }
  *found = 0;
  return bucket;
}

static uint32_t *slot_of(shd_shard *z, uint32_t off) {
  uint32_t *slot = &z->buckets[ITEM(z, off)->hash & z->h->bucket_mask];
  while (*slot != off) slot = &ITEM(z, *slot)->hnext;
  return slot;
}

static void lru_unlink(shd_shard *z, shd_item *it) {
  shd_shard_hdr *h = z->h;
  if (it->lprev) ITEM(z, it->lprev)->lnext = it->lnext;
  else h->lru_head = it->lnext;
  if (it->lnext) ITEM(z, it->lnext)->lprev = it->lprev;
  else h->lru_tail = it->lprev;
  it->lprev = it->lnext = 0;
}

static void lru_push(shd_shard *z, shd_item *it) {
  shd_shard_hdr *h = z->h;
  uint32_t off = OFF(z, it);
  if (z->stamped) it->stamp = shd_stamp();
  it->lprev = 0;
  it->lnext = h->lru_head;
  if (h->lru_head) ITEM(z, h->lru_head)->lprev = off;
  else h->lru_tail = off;
  h->lru_head = off;
}

static void lru_touch(shd_shard *z, shd_item *it) {
  if (z->h->lru_head == OFF(z, it)) return;
  lru_unlink(z, it);
  CRASH_POINT(7);
  lru_push(z, it);
}

/* The key's item if it has not expired, made the most recently used; else 0. */
static uint32_t find_live(shd_shard *z, const shd_key *k, clockc *c) {
  uint32_t off;
  lookup(z, k, &off);
  if (!off) return 0;
  lru_touch(z, ITEM(z, off));
  return expired(ITEM(z, off), c) ? 0 : off;
}

static void free_nodes(shd_shard *z, uint32_t n) {
  while (n) {
    uint32_t next = NODE(z, n)->next; /* read first: the freed block's body holds free links */
    blk_free(z, n);
    n = next;
  }
}

/* Frees an item already unlinked from its chain. */
static void item_release(shd_shard *z, uint32_t off) {
  shd_item *it = ITEM(z, off);
  lru_unlink(z, it);
  if (it->type == T_LIST) free_nodes(z, it->v.lhead);
  blk_free(z, off);
}

static void item_remove(shd_shard *z, uint32_t *slot, uint32_t off) {
  STORE_ORDER();
  *slot = ITEM(z, off)->hnext; /* the commit: the key is gone */
  CRASH_POINT(4);
  z->h->items--;
  item_release(z, off);
}

/*
 * nginx's ngx_http_lua_shdict_expire: n = 1 frees up to two expired items at the LRU tail;
 * n = 0 frees the tail item whatever its expiry, then up to two expired ones.
 */
static int expire_some(shd_shard *z, int n, clockc *c) {
  int freed = 0;
  while (n < 3) {
    uint32_t off = z->h->lru_tail;
    if (!off) return freed;
    shd_item *it = ITEM(z, off);
    if (n++ != 0 && !expired(it, c)) return freed;
    item_remove(z, slot_of(z, off), off);
    freed++;
  }
  return freed;
}

/* ---------------------------------------------------------------- store */

static void item_fill(shd_shard *z, uint32_t off, const shd_key *k, const shd_value *v, uint64_t ttl_ms,
                      uint32_t uflags, clockc *c) {
  shd_item *it = ITEM(z, off);
  it->hnext = 0;
  it->hash = k->hash;
  it->lprev = it->lnext = 0;
  it->expires = ttl_ms ? now_of(c) + ttl_ms : 0;
  it->uflags = uflags;
  it->klen = (uint16_t)k->len;
  it->type = (uint8_t)v->type;
  it->ascii = v->ascii;
  it->pad = 0;
  it->ltail = 0;
  it->stamp = 0;
  memcpy(it->data, k->bytes, k->len);
  if (v->type == T_STRING || v->type == T_BINARY) {
    it->vlen = v->len;
    it->v.num = 0;
    memcpy(it->data + k->len, v->bytes, v->len);
  } else {
    it->vlen = 0;
    it->v.num = v->num;
  }
}

static int store_locked(shd_shard *z, const shd_key *k, const shd_value *v, uint64_t ttl_ms, uint32_t uflags,
                        int op, clockc *c) {
  int forcible = 0;
  uint32_t old;
  uint32_t *slot = lookup(z, k, &old);
  int stale = old && expired(ITEM(z, old), c);
  if (old) lru_touch(z, ITEM(z, old));
  if ((op & OP_REPLACE) && (!old || stale)) return RC_NOT_FOUND << 1;
  if ((op & OP_ADD) && old && !stale) return RC_EXISTS << 1;
  if (v->type == 0) {
    if (old) item_remove(z, slot, old);
    return RC_OK;
  }
  uint64_t need = (uint64_t)ITEM_HEADER + k->len +
                  (v->type == T_STRING || v->type == T_BINARY ? v->len : 0);
  /* Too large for any zone: blk_alloc refuses it, after the evictions nginx also makes. */
  if (need > 0x7fffffffu) need = 0x7fffffffu;
  uint32_t nb = blk_alloc(z, (uint32_t)need, BLK_ITEM);
  if (!nb && old) {
    /* As nginx: the old value's memory is the first to reuse (this one step is not atomic
       against a crash: the key can end up missing, never half-written). */
    item_remove(z, slot, old);
    old = 0;
    nb = blk_alloc(z, (uint32_t)need, BLK_ITEM);
  }
  int evicted = 0;
  if (!nb) {
    if (op & OP_SAFE) return RC_NO_MEMORY << 1;
    for (int i = 0; i < 30 && !nb; i++) {
      if (expire_some(z, 0, c) == 0) break;
      forcible = evicted = 1;
      nb = blk_alloc(z, (uint32_t)need, BLK_ITEM);
    }
    if (!nb) return (RC_NO_MEMORY << 1) | forcible;
  }
  item_fill(z, nb, k, v, ttl_ms, uflags, c);
  CRASH_POINT(2);
  if (evicted && old) slot = lookup(z, k, &old); /* an eviction may have freed it */
  shd_item *it = ITEM(z, nb);
  if (old) {
    it->hnext = ITEM(z, old)->hnext;
    STORE_ORDER();
    *slot = nb; /* the commit: the key has its new value */
    CRASH_POINT(3);
    item_release(z, old);
  } else {
    uint32_t *bucket = &z->buckets[k->hash & z->h->bucket_mask];
    it->hnext = *bucket;
    STORE_ORDER();
    *bucket = nb; /* the commit */
    CRASH_POINT(3);
    z->h->items++;
  }
  lru_push(z, it);
  return forcible;
}

int shd_store(shd_zone *zone, const shd_key *k, const shd_value *v, uint64_t ttl_ms, uint32_t uflags, int op) {
  shd_shard *z = shard_of(zone, k->hash);
  clockc c = {0};
  LOCK_OR_FAIL(z);
  expire_some(z, 1, &c);
  int r = store_locked(z, k, v, ttl_ms, uflags, op, &c);
  shd_unlock(z);
  return r;
}

/* ---------------------------------------------------------------- get */

static int copy_out(shd_buf *buf, const uint8_t *p, uint32_t len) {
  if (len > buf->cap) {
    size_t cap = buf->cap * 2 > len ? buf->cap * 2 : len;
    uint8_t *np = realloc(buf->p, cap);
    if (!np) return 0;
    buf->p = np;
    buf->cap = cap;
  }
  memcpy(buf->p, p, len);
  return 1;
}

int shd_get(shd_zone *zone, const shd_key *k, int stale, shd_got *g, shd_buf *buf) {
  shd_shard *z = shard_of(zone, k->hash);
  clockc c = {0};
  int r = RC_OK;
  g->type = 0;
  g->stale = 0;
  g->uflags = 0;
  LOCK_OR_FAIL(z);
  if (!stale) expire_some(z, 1, &c);
  uint32_t off;
  lookup(z, k, &off);
  if (off) {
    shd_item *it = ITEM(z, off);
    lru_touch(z, it);
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
      g->len = it->vlen;
      if ((it->type == T_STRING || it->type == T_BINARY) && !copy_out(buf, it->data + it->klen, it->vlen)) {
        r = RC_OOM << 1;
      }
    }
  }
  shd_unlock(z);
  return r;
}

/* ---------------------------------------------------------------- incr */

int shd_incr(shd_zone *zone, const shd_key *k, double delta, int has_init, double init, uint64_t init_ttl_ms,
             double *result) {
  shd_shard *z = shard_of(zone, k->hash);
  clockc c = {0};
  int r;
  LOCK_OR_FAIL(z);
  expire_some(z, 1, &c);
  uint32_t off = find_live(z, k, &c);
  if (off) {
    shd_item *it = ITEM(z, off);
    if (it->type != T_NUMBER) {
      r = RC_NOT_A_NUMBER << 1;
    } else {
      double value = it->v.num + delta;
      it->v.num = value; /* one aligned store */
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
  shd_unlock(z);
  return r;
}

/* ---------------------------------------------------------------- lists */

static uint32_t node_new(shd_shard *z, const shd_value *v) {
  uint32_t body = v->type == T_NUMBER ? 8 : (v->len > 8 ? v->len : 8);
  if ((uint64_t)NODE_HEADER + body > z->h->heap_end - z->h->heap_start) return 0;
  uint32_t off = blk_alloc(z, NODE_HEADER + body, BLK_NODE);
  if (!off) return 0;
  shd_node *n = NODE(z, off);
  n->next = n->prev = 0;
  n->type = (uint8_t)v->type;
  n->ascii = v->ascii;
  n->pad = 0;
  if (v->type == T_NUMBER) {
    n->vlen = 0;
    n->v.num = v->num;
  } else {
    n->vlen = v->len;
    memcpy(n->v.data, v->bytes, v->len);
  }
  return off;
}

static int push_locked(shd_shard *z, const shd_key *k, const shd_value *v, int left, uint32_t *len, clockc *c) {
  uint32_t off;
  uint32_t *slot = lookup(z, k, &off);
  if (off && expired(ITEM(z, off), c)) {
    item_remove(z, slot, off);
    off = 0;
  }
  if (off && ITEM(z, off)->type != T_LIST) {
    lru_touch(z, ITEM(z, off));
    return RC_NOT_LIST << 1;
  }
  /* Pushing never evicts (as OpenResty). */
  uint32_t node = node_new(z, v);
  if (!node) return RC_NO_MEMORY << 1;
  if (!off) {
    off = blk_alloc(z, ITEM_HEADER + k->len, BLK_ITEM);
    if (!off) {
      blk_free(z, node);
      return RC_NO_MEMORY << 1;
    }
    shd_value lv = {T_LIST, NULL, 0, 0, 0};
    item_fill(z, off, k, &lv, 0, 0, c);
    shd_item *it = ITEM(z, off);
    it->v.lhead = node;
    it->ltail = node;
    it->vlen = 1;
    uint32_t *bucket = &z->buckets[k->hash & z->h->bucket_mask];
    it->hnext = *bucket;
    STORE_ORDER();
    *bucket = off; /* the commit */
    z->h->items++;
    lru_push(z, it);
    *len = 1;
    return RC_OK;
  }
  shd_item *it = ITEM(z, off);
  shd_node *n = NODE(z, node);
  if (left) {
    n->next = it->v.lhead;
    STORE_ORDER();
    it->v.lhead = node; /* the commit */
    CRASH_POINT(8);
    NODE(z, n->next)->prev = node;
  } else {
    n->prev = it->ltail;
    STORE_ORDER();
    NODE(z, it->ltail)->next = node; /* the commit */
    CRASH_POINT(8);
    it->ltail = node;
  }
  it->vlen++;
  lru_touch(z, it);
  *len = it->vlen;
  return RC_OK;
}

int shd_push(shd_zone *zone, const shd_key *k, const shd_value *v, int left, uint32_t *len) {
  shd_shard *z = shard_of(zone, k->hash);
  clockc c = {0};
  LOCK_OR_FAIL(z);
  expire_some(z, 1, &c);
  int r = push_locked(z, k, v, left, len, &c);
  shd_unlock(z);
  return r;
}

static int pop_locked(shd_shard *z, const shd_key *k, int left, shd_got *g, shd_buf *buf, clockc *c) {
  uint32_t off;
  uint32_t *slot = lookup(z, k, &off);
  if (!off) return RC_NOT_FOUND << 1;
  shd_item *it = ITEM(z, off);
  lru_touch(z, it);
  if (expired(it, c)) return RC_NOT_FOUND << 1;
  if (it->type != T_LIST) return RC_NOT_LIST << 1;
  uint32_t noff = left ? it->v.lhead : it->ltail;
  shd_node *n = NODE(z, noff);
  g->type = n->type;
  g->ascii = n->ascii;
  g->len = n->vlen;
  g->num = n->v.num;
  if (n->type == T_STRING && !copy_out(buf, n->v.data, n->vlen)) return RC_OOM << 1;
  if (it->vlen == 1) {
    item_remove(z, slot, off);
    return RC_OK;
  }
  if (left) {
    uint32_t next = n->next;
    STORE_ORDER();
    it->v.lhead = next; /* the commit */
    CRASH_POINT(9);
    NODE(z, next)->prev = 0;
  } else {
    uint32_t prev = n->prev;
    STORE_ORDER();
    NODE(z, prev)->next = 0; /* the commit */
    CRASH_POINT(9);
    it->ltail = prev;
  }
  it->vlen--;
  blk_free(z, noff);
  return RC_OK;
}

int shd_pop(shd_zone *zone, const shd_key *k, int left, shd_got *g, shd_buf *buf) {
  shd_shard *z = shard_of(zone, k->hash);
  clockc c = {0};
  g->type = 0;
  LOCK_OR_FAIL(z);
  expire_some(z, 1, &c);
  int r = pop_locked(z, k, left, g, buf, &c);
  if (r != RC_OK) g->type = 0;
  shd_unlock(z);
  return r;
}

int shd_llen(shd_zone *zone, const shd_key *k, uint32_t *len) {
  shd_shard *z = shard_of(zone, k->hash);
  clockc c = {0};
  int r = RC_OK;
  *len = 0;
  LOCK_OR_FAIL(z);
  expire_some(z, 1, &c);
  uint32_t off = find_live(z, k, &c);
  if (off) {
    shd_item *it = ITEM(z, off);
    if (it->type != T_LIST) r = RC_NOT_LIST << 1;
    else *len = it->vlen;
  }
  shd_unlock(z);
  return r;
}

/* ---------------------------------------------------------------- ttl, expire, flush, keys */

/*
 * ttl (set = 0: *ms = milliseconds left, negative for an expired item not yet freed, as
 * OpenResty) and expire (set = 1: a new expiry, which also revives such an item).
 */
int shd_expiry(shd_zone *zone, const shd_key *k, int set, uint64_t ttl_ms, double *ms) {
  shd_shard *z = shard_of(zone, k->hash);
  clockc c = {0};
  int r = RC_OK;
  LOCK_OR_FAIL(z);
  uint32_t off;
  lookup(z, k, &off);
  if (!off) {
    r = RC_NOT_FOUND << 1;
  } else {
    shd_item *it = ITEM(z, off);
    lru_touch(z, it);
    if (set) it->expires = ttl_ms ? now_of(&c) + ttl_ms : 0;
    else *ms = it->expires == 0 ? 0 : (double)(int64_t)(it->expires - now_of(&c));
  }
  shd_unlock(z);
  return r;
}

/* Marks every item of every shard expired, then frees a few per shard (nginx: up to 3). */
int shd_flush_all(shd_zone *zone) {
  for (uint32_t i = 0; i < zone->nshards; i++) {
    shd_shard *z = &zone->shards[i];
    clockc c = {0};
    LOCK_OR_FAIL(z);
    int n = 0;
    for (uint32_t off = z->h->lru_head; off; off = ITEM(z, off)->lnext) {
      ITEM(z, off)->expires = 1;
      if (++n == 2) CRASH_POINT(11);
    }
    expire_some(z, 0, &c);
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
        item_remove(z, slot_of(z, off), off);
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
