/*
 * What every operation is made of: the hash, the clocks, the lock, the index and LRU
 * primitives, removing and filling items, lazy expiry. The operations themselves (dict.c,
 * list.c, zonewide.c) each take one shard's lock once, do their work and release it; no
 * JavaScript runs and no Node-API call is made while a lock is held (values are copied out
 * into a buffer of this process first).
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
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "shard.h"

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

/*
 * A locker makes the shard's sequence number odd, and a new odd number whatever the previous
 * holder left: a lock-free reader that saw an even number before reading and the same number
 * after knows that no locker came in between (see shd_get).
 */
static void seq_enter(shd_shard *z) {
  __atomic_store_n(&z->h->seq, (z->h->seq + 2) | 1u, __ATOMIC_RELAXED);
  __atomic_thread_fence(__ATOMIC_RELEASE); /* the odd number is seen before any change */
}

/* Takes the shard's lock (lock.c); a holder found dead is repaired after first. */
void shd_lock(shd_shard *z) {
  if (__builtin_expect(shd_lock_word(&z->h->lock) == SHD_OWNER_DIED, 0)) {
    seq_enter(z); /* before the repair: the holder may have died with the number even again */
    shard_recover(z);
    z->h->recoveries++;
  }
  seq_enter(z);
}

int shd_unlock(shd_shard *z) {
  int corrupt = z->corrupt;
  if (__builtin_expect(corrupt, 0)) {
    /* A link out of the heap (bounds.h): what else the shard holds cannot be trusted either, and
       recovery's answer to a heap it cannot read is to empty it, which is done here, still under
       the lock and with seq odd, so that no reader sees it half done. */
    shard_reset(z);
    z->corrupt = 0;
  }
  __atomic_store_n(&z->h->seq, z->h->seq + 1, __ATOMIC_RELEASE); /* after every change */
  shd_unlock_word(&z->h->lock);
  return corrupt;
}

/*
 * Reads move an item to the LRU head at most once a second (see read_bump_due). Tests of the
 * eviction order set 0 (every read moves it, as in nginx), tests of reads without the lock -1.
 */
int shd_read_bump_seconds = 1;

/* Seconds added to the clock of shd_read_epoch: tests of a read long after the last move. */
int64_t shd_read_clock_skew = 0;

uint32_t shd_read_epoch(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC_COARSE, &ts); /* a few nanoseconds: no system call, 1-4 ms steps */
  /* The same clock in every process of the host, in whole seconds (0 means never moved; a 32-bit
     count wraps after 136 years). */
  uint32_t epoch = (uint32_t)(1 + ts.tv_sec + shd_read_clock_skew);
  return epoch != 0 ? epoch : 1;
}

/* ---------------------------------------------------------------- index and LRU */

/* Whether the item at off holds the key: the span compared is the key's own length, whatever
   klen says by the time of the compare. */
static inline int holds_key(shd_shard *z, const shd_item *it, uint32_t off, const shd_key *k) {
  return it->hash == k->hash && it->klen == k->len && shd_span(z, off, (uint64_t)ITEM_HEADER + k->len) &&
         memcmp(it->data, k->bytes, k->len) == 0;
}

/* The slot (bucket head or predecessor's hnext) that holds the key's item, or the bucket (also
   when the chain leaves the heap: the shard is then marked corrupt). */
uint32_t *shd_lookup(shd_shard *z, const shd_key *k, uint32_t *found) {
  uint32_t *bucket = &z->buckets[k->hash & z->bucket_mask].head;
  uint32_t *slot = bucket;
  uint32_t steps = 0;
  for (uint32_t off = *slot; off; off = *slot) {
    shd_item *it = shd_item_at(z, off);
    if (!it || ++steps > z->max_blocks) {
      shd_corrupt(z);
      break;
    }
    if (holds_key(z, it, off, k)) {
      *found = off;
      return slot;
    }
    slot = &it->hnext;
  }
  *found = 0;
  return bucket;
}

/* The slot that holds the item at off, whose hash picks the chain walked; NULL when the chain
   ends without reaching it, or leaves the heap (the shard is then marked corrupt). */
uint32_t *shd_slot_find(shd_shard *z, uint32_t off) {
  uint32_t *slot = &z->buckets[ITEM(z, off)->hash & z->bucket_mask].head;
  for (uint32_t steps = 0; *slot != off; steps++) {
    if (!*slot) return NULL;
    shd_item *it = steps < z->max_blocks ? shd_item_at(z, *slot) : NULL;
    if (!it) return shd_corrupt(z), NULL;
    slot = &it->hnext;
  }
  return slot;
}

/* The slot that holds the item at off (checked by the caller); NULL when its chain does not
   reach it (shard corrupt). */
uint32_t *shd_slot_of(shd_shard *z, uint32_t off) {
  uint32_t *slot = shd_slot_find(z, off);
  if (!slot) shd_corrupt(z);
  return slot;
}

/*
 * Takes an item that an add without the lock left pending out of that state (lanes.c): it is
 * counted in the shard's items from now on, and no more in its lane's `pending`.
 */
void shd_unpend(shd_shard *z, shd_item *it) {
  int lane = LANE_OF_MARK(it->lnext);
  if (lane >= 0 && z->lanes) shd_pending_down(&z->lanes[lane].pending);
  it->lprev = it->lnext = 0;
  z->h->items++;
}

void shd_lru_unlink(shd_shard *z, shd_item *it) {
  shd_shard_hdr *h = z->h;
  if (it->lprev == LRU_PENDING) { /* not in the list: a removal that follows subtracts it again */
    shd_unpend(z, it);
    return;
  }
  uint32_t prev = it->lprev, next = it->lnext;
  shd_item *p = prev ? shd_item_at(z, prev) : NULL, *n = next ? shd_item_at(z, next) : NULL;
  if (p) p->lnext = next;
  else if (!prev) h->lru_head = next;
  if (n) n->lprev = prev;
  else if (!next) h->lru_tail = prev;
  it->lprev = it->lnext = 0;
}

void shd_lru_push(shd_shard *z, shd_item *it) {
  shd_shard_hdr *h = z->h;
  uint32_t off = OFF(z, it), head = h->lru_head;
  if (z->stamped) it->stamp = shd_stamp();
  it->lprev = 0;
  it->lnext = head;
  shd_item *first = head ? shd_item_at(z, head) : NULL;
  if (first) first->lprev = off;
  else if (!head) h->lru_tail = off;
  h->lru_head = off;
}

void shd_lru_touch(shd_shard *z, shd_item *it) {
  if (z->h->lru_head == OFF(z, it)) return;
  shd_lru_unlink(z, it);
  CRASH_POINT(7);
  shd_lru_push(z, it);
}

/* The key's item if it has not expired, made the most recently used; else 0. */
uint32_t shd_find_live(shd_shard *z, const shd_key *k, clockc *c) {
  uint32_t off;
  shd_lookup(z, k, &off);
  if (!off) return 0;
  shd_lru_touch(z, ITEM(z, off));
  return expired(ITEM(z, off), c) ? 0 : off;
}

void shd_free_nodes(shd_shard *z, uint32_t n) {
  for (uint32_t steps = 0; n; steps++) {
    shd_node *node = steps < z->max_blocks ? shd_node_at(z, n) : NULL;
    if (!node) {
      shd_corrupt(z);
      return;
    }
    uint32_t next = node->next; /* read first: the freed block's body holds free links */
    blk_free(z, n);
    n = next;
  }
}

/*
 * A number's new tag (layout.h): this process's count of tags, from a random start, mixed with
 * the zone's seed, so that tags differ between processes and incarnations without a counter in
 * the zone that every locker would write, and no value a user stores is likely to equal one.
 */
uint64_t shd_new_tag(shd_shard *z) {
  static uint64_t start, count; /* atomics: a process's threads may make items at once */
  uint64_t from = __atomic_load_n(&start, __ATOMIC_RELAXED);
  if (from == 0) {
    if (getrandom(&from, sizeof from, 0) != (ssize_t)sizeof from) from = shd_stamp() ^ ((uint64_t)getpid() << 32);
    from |= 1u; /* begun: never 0 */
    uint64_t none = 0;
    if (!__atomic_compare_exchange_n(&start, &none, from, 0, __ATOMIC_RELAXED, __ATOMIC_RELAXED)) from = none;
  }
  uint64_t x = (z->seed ^ from) + __atomic_add_fetch(&count, 1, __ATOMIC_RELAXED) * 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  x ^= x >> 31;
  return x ? x : 1;
}

/* Frees an item already unlinked from its chain. */
void shd_item_release(shd_shard *z, uint32_t off) {
  shd_item *it = ITEM(z, off);
  /* A write without the lock that found the item before it was unlinked fails from now on:
     its block may be reused once the lock is released. */
  __atomic_store_n(&it->tag, 0, __ATOMIC_RELAXED);
  shd_lru_unlink(z, it);
  if (it->type == T_LIST) shd_free_nodes(z, it->v.lhead);
  else if (shd_lane_keep(z, off)) return;
  blk_free(z, off);
}

/* The bucket whose head `slot` is, or NULL when it is an item's hnext. */
static inline shd_bucket *bucket_of(shd_shard *z, uint32_t *slot) {
  shd_bucket *b = (shd_bucket *)(void *)slot;
  return b >= z->buckets && b <= z->buckets + z->bucket_mask ? b : NULL;
}

/*
 * Writes a bucket's head under the lock: `head` replaces `expect` there, the version counts the
 * write. Adds without the lock push items at the head meanwhile (dict.c), so this is one
 * compare-and-swap of head and version: 0 = the head is no longer `expect`. The version counts
 * every change of the chain (shd_bucket_bump), so that an add without the lock that compares it
 * knows that the chain it walked is the chain it links into.
 */
int shd_bucket_swap(shd_bucket *b, uint32_t expect, uint32_t head) {
  shd_bucket seen;
  __atomic_load(b, &seen, __ATOMIC_ACQUIRE);
  while (seen.head == expect) {
    shd_bucket want = {head, seen.ver + 1};
    /* sequentially consistent: the stores after it (a freed block filled again) are not seen
       before it, on any processor */
    if (__atomic_compare_exchange(b, &seen, &want, 0, __ATOMIC_SEQ_CST, __ATOMIC_ACQUIRE)) return 1;
  }
  return 0;
}

/* Counts a change of the chain deeper than its head (an hnext written) in the bucket's version. */
void shd_bucket_bump(shd_bucket *b) {
  shd_bucket seen;
  do __atomic_load(b, &seen, __ATOMIC_RELAXED);
  while (!shd_bucket_swap(b, seen.head, seen.head));
}

/* Replaces the item `off` at `slot` (shd_lookup's) by `next`: one store under the lock, or for a
   bucket head, one compare-and-swap; when adds without the lock pushed items before it
   meanwhile, the item's slot is now the hnext of one of them. Either way the bucket's version
   counts the change. */
void shd_slot_replace(shd_shard *z, uint32_t *slot, uint32_t off, uint32_t next) {
  STORE_ORDER();
  shd_bucket *b = bucket_of(z, slot);
  if (b) {
    if (shd_bucket_swap(b, off, next)) return;
    slot = shd_slot_of(z, off);
    if (!slot || bucket_of(z, slot)) return; /* corrupt: shd_slot_of marked it */
  }
  __atomic_store_n(slot, next, __ATOMIC_RELEASE);
  shd_bucket_bump(&z->buckets[ITEM(z, off)->hash & z->bucket_mask]);
}

/* The item of the key in the chain from `off` up to (not including) `end`, or 0. */
static uint32_t find_between(shd_shard *z, const shd_key *k, uint32_t off, uint32_t end) {
  for (uint32_t steps = 0; off && off != end; steps++) {
    shd_item *it = steps < z->max_blocks ? shd_item_at(z, off) : NULL;
    if (!it) return shd_corrupt(z), 0;
    if (holds_key(z, it, off, k)) return off;
    off = it->hnext;
  }
  return 0;
}

/*
 * Links the new item nb at the head of the key's chain under the lock: the commit of an insert,
 * for a key the caller's shd_lookup found missing. An add without the lock may have pushed the
 * key since, so the chain is looked at again (it is short and in the cache), and after a
 * compare-and-swap that lost to another push, the items pushed since. 1 = linked; 0 = the key is
 * in the chain now (*found; 0 when the chain left the heap: the shard is marked corrupt), nb is
 * not linked.
 */
int shd_link_new(shd_shard *z, const shd_key *k, uint32_t nb, uint32_t *found) {
  shd_bucket *b = &z->buckets[k->hash & z->bucket_mask];
  shd_item *it = ITEM(z, nb);
  shd_bucket seen;
  __atomic_load(b, &seen, __ATOMIC_ACQUIRE);
  uint32_t known = 0;
  for (;;) {
    if ((*found = find_between(z, k, seen.head, known))) return 0;
    if (z->corrupt) return 0;
    known = seen.head;
    it->hnext = seen.head;
    STORE_ORDER();
    shd_bucket want = {nb, seen.ver + 1};
    if (__atomic_compare_exchange(b, &seen, &want, 0, __ATOMIC_RELEASE, __ATOMIC_ACQUIRE)) return 1;
  }
}

void shd_item_remove(shd_shard *z, uint32_t *slot, uint32_t off) {
  shd_slot_replace(z, slot, off, ITEM(z, off)->hnext); /* the commit: the key is gone */
  CRASH_POINT(4);
  z->h->items--;
  shd_item_release(z, off);
}

/*
 * nginx's ngx_http_lua_shdict_expire: n = 1 frees up to two expired items at the LRU tail;
 * n = 0 frees the tail item whatever its expiry, then up to two expired ones.
 */
int shd_expire_some(shd_shard *z, int n, clockc *c) {
  int freed = 0;
  while (n < 3) {
    uint32_t off = z->h->lru_tail;
    shd_item *it = off ? shd_item_at(z, off) : NULL;
    if (!it) return freed;
    if (n++ != 0 && !expired(it, c)) return freed;
    uint32_t *slot = shd_slot_of(z, off);
    if (!slot) return freed;
    shd_item_remove(z, slot, off);
    freed++;
  }
  return freed;
}

void shd_item_fill(shd_shard *z, uint32_t off, const shd_key *k, const shd_value *v, uint64_t ttl_ms,
                      uint32_t uflags, clockc *c) {
  shd_item *it = ITEM(z, off);
  it->hnext = 0;
  it->hash = k->hash;
  /* lprev and lnext are left alone: the LRU push that follows the link writes them, and an add
     without the lock has marked them (lanes.c) */
  it->expires = ttl_ms ? now_of(c) + ttl_ms : 0;
  it->uflags = uflags;
  it->klen = (uint16_t)k->len;
  it->type = (uint8_t)v->type;
  it->ascii = v->ascii;
  it->rbump = 0;
  it->tag = shd_tagged((uint8_t)v->type) ? shd_new_tag(z) : 0; /* a list's ltail: 0 */
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

int shd_copy_out(shd_buf *buf, const uint8_t *p, uint32_t len) {
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
