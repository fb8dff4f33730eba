/* What the operations share (shard.c): not part of the addon's interface (dict.h). */
#ifndef SHD_SHARD_H
#define SHD_SHARD_H

#include "bounds.h"
#include "dict.h"

/* A key's shard: the top bits of its hash (the low bits pick its bucket). */
static inline shd_shard *shard_of(shd_zone *zone, uint32_t hash) {
  return zone->nshards == 1 ? &zone->shards[0] : &zone->shards[hash >> (32 - zone->shard_bits)];
}

static inline void shd_cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  __asm__ __volatile__("yield" ::: "memory");
#endif
}

/*
 * Compares the 16 bytes at p (16-byte aligned) with expect[0..1] and, when equal, stores
 * desired[0..1], in one atomic step that is also atomic against other processes (a locked
 * instruction on shared memory). Else loads what is there into expect. 1 = stored. Where the
 * processor has no such instruction here, 0 always: the callers then take the lock.
 */
#if defined(__x86_64__)
#define SHD_HAS_CAS16 1
static inline int shd_cas16(void *p, uint64_t expect[2], const uint64_t desired[2]) {
  uint8_t ok;
  __asm__ __volatile__("lock cmpxchg16b %1\n\tsetz %0"
                       : "=q"(ok), "+m"(*(volatile unsigned __int128 *)p), "+a"(expect[0]), "+d"(expect[1])
                       : "b"(desired[0]), "c"(desired[1])
                       : "memory", "cc");
  return ok;
}
#else
#define SHD_HAS_CAS16 0
static inline int shd_cas16(void *p, uint64_t expect[2], const uint64_t desired[2]) { return 0; }
#endif

/* Whether an item of this type carries a tag (layout.h): numbers and booleans, which writes
   without the lock may change (dict.c, write_unlocked). */
static inline int shd_tagged(uint8_t type) { return type == T_NUMBER || type == T_BOOLEAN; }

/* The clock is read at most once per operation, and only when an expiry needs it. */
typedef struct {
  uint64_t ms;
} clockc;
static inline uint64_t now_of(clockc *c) { return c->ms ? c->ms : (c->ms = shd_now_ms()); }
static inline int expired(const shd_item *it, clockc *c) { return it->expires != 0 && it->expires <= now_of(c); }

/* The lock word of a shard (lock.c): 0, or SHD_OWNER_DIED when the holder before was found dead
   and the lock taken over (the shard needs repair). */
#define SHD_OWNER_DIED 1
int shd_lock_word(uint32_t *word);
void shd_unlock_word(uint32_t *word);

/* Releases the lock: the operation's outcome r, or RC_CORRUPT when the shard was found corrupt
   and has been emptied (bounds.h). */
static inline int shd_unlock_with(shd_shard *z, int r) { return shd_unlock(z) ? RC_CORRUPT << 1 : r; }

/*
 * Whether a read should move the item to the LRU head: the first read since the item was
 * stored always does, later ones only in another second. A read that moves nothing writes
 * nothing, so gets from many processes scale (dict.c reads without the lock).
 */
uint32_t shd_read_epoch(void);
static inline int read_bump_due(const shd_item *it, uint32_t epoch) {
  return shd_read_bump_seconds == 0 || (it->rbump != epoch && shd_read_bump_seconds > 0);
}

uint32_t *shd_lookup(shd_shard *z, const shd_key *k, uint32_t *found);
uint32_t *shd_slot_find(shd_shard *z, uint32_t off);
uint32_t *shd_slot_of(shd_shard *z, uint32_t off);
void shd_lru_unlink(shd_shard *z, shd_item *it);
void shd_lru_push(shd_shard *z, shd_item *it);
void shd_lru_touch(shd_shard *z, shd_item *it);
uint32_t shd_find_live(shd_shard *z, const shd_key *k, clockc *c);
uint64_t shd_new_tag(shd_shard *z);
void shd_free_nodes(shd_shard *z, uint32_t n);
void shd_item_release(shd_shard *z, uint32_t off);
void shd_item_remove(shd_shard *z, uint32_t *slot, uint32_t off);
void shd_slot_replace(shd_shard *z, uint32_t *slot, uint32_t off, uint32_t next);
int shd_bucket_swap(shd_bucket *b, uint32_t expect, uint32_t head);
void shd_bucket_bump(shd_bucket *b);
int shd_link_new(shd_shard *z, const shd_key *k, uint32_t nb, uint32_t *found);
int shd_pid_gone(uint32_t pid);
uint32_t shd_my_pid(void);

/* Adds without the lock (dict.c): this process's lane in the zone, its release at detach, and
   the items of every lane that wait for the LRU list (zonewide.c, recover.c). */
int shd_lane_claim(shd_zone *zone);
void shd_lane_release(shd_zone *zone);
void shd_lane_sync(shd_shard *z);
uint32_t shd_lanes_dead(const shd_shard *z, uint32_t pids[SHD_LANES]);
void shd_lanes_reclaim(shd_shard *z, uint32_t dead, const uint32_t pids[SHD_LANES]);
int shd_lanes_reclaim_for_room(shd_shard *z, clockc *c);
uint64_t shd_lanes_dead_reserve(const shd_shard *z, uint32_t dead);
uint32_t shd_drain_pending(shd_shard *z, int force);
void shd_unpend(shd_shard *z, shd_item *it);

/* One less in a lane's count of pending items; never below 0 (recovery may have zeroed it). */
static inline void shd_pending_down(uint32_t *pending) {
  uint32_t n = __atomic_load_n(pending, __ATOMIC_RELAXED);
  while (n && !__atomic_compare_exchange_n(pending, &n, n - 1, 0, __ATOMIC_RELAXED, __ATOMIC_RELAXED)) {
  }
}
int shd_lane_owns(const shd_item *it, int lane);
int shd_lane_keep(shd_shard *z, uint32_t off);
uint32_t shd_lane_take(shd_shard *z);
int shd_expire_some(shd_shard *z, int n, clockc *c);
void shd_item_fill(shd_shard *z, uint32_t off, const shd_key *k, const shd_value *v, uint64_t ttl_ms, uint32_t uflags,
                   clockc *c);
int shd_copy_out(shd_buf *buf, const uint8_t *p, uint32_t len);

/*
 * A use of a live item that moves it to the LRU head as a read does (read_bump_due): a get, an
 * incr, a set in place. nginx moves it at every use; this once a second, so that uses of an
 * item already moved this second write nothing but the value.
 */
static inline void shd_use(shd_shard *z, shd_item *it) {
  uint32_t epoch = shd_read_epoch();
  if (read_bump_due(it, epoch)) {
    shd_lru_touch(z, it);
    it->rbump = epoch;
  }
}

#endif
