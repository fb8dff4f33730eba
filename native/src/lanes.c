/*
 * The lanes of adds without the lock (dict.c, add_unlocked; layout.h). A process claims one lane
 * per zone; in each shard its lane lists the blocks it holds for the next numbers and booleans it
 * makes (its reserve: a page taken from the heap under the lock, or pairs freed by its own
 * deletes), so that an add itself allocates nothing and a store under the lock takes its block
 * there too (shd_lane_take), and counts its items that are linked but not
 * yet in the shard's LRU list. Those items ("pending": lprev = LRU_PENDING, lnext = the lane's
 * mark) are put in the list by the owner's next batch (shd_lane_sync), by any locker that needs
 * the whole list (shd_drain_pending: flushAll, flushExpired, getKeys, stats, an eviction that
 * found the list empty), or by recovery; a locked operation that meets one on its own (a delete,
 * a use) takes it out of that state as it goes (shd_unpend). An item is counted in the shard's
 * `items` from the moment it leaves the pending state, and in its lane's `pending` until then,
 * so that statistics read without the lock count it all along.
 *
 * What the lanes are to recovery and check(): a listed block is in use but reachable from no
 * chain (until the add that links it lowers the count): kept while its owner lives, freed when
 * the owner is gone. A lane whose owner ended is taken over by a later claimant, or emptied by
 * the next freeSpace, flushAll or flushExpired, or in one shard by an allocation there that
 * found no room (shd_lanes_reclaim, shd_lanes_reclaim_for_room), which, in each
 * shard under that shard's lock, puts the pending items in the LRU list and frees the blocks the
 * lane still lists that are still its own (lane_clear): a block the dead owner linked (killed
 * before it lowered the count) may since have been freed and used again, which the marks tell.
 */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>

#include "shard.h"

/* The item block at off, whatever its content (a reserved block's is anything). Nothing is marked
   corrupt: a lane's lists are checked, not trusted. */
static shd_item *item_block(shd_shard *z, uint32_t off) {
  return shd_span(z, off, SHD_LINE_PAIR) && blk_state(BLK(z, off)) == BLK_ITEM ? ITEM(z, off) : NULL;
}

int shd_lane_owns(const shd_item *it, int lane) {
  uint32_t mark = LANE_MARK(lane);
  return it->lprev == mark || (it->lprev == LRU_PENDING && it->lnext == mark);
}

/* Under the lock: frees the blocks a lane lists that are still its own and not linked (the lane's
   owner is this process, releasing it, or dead). */
static void lane_clear(shd_shard *z, int lane) {
  shd_lane *l = &z->lanes[lane];
  uint32_t count = l->count < SHD_LANE_BLOCKS ? l->count : SHD_LANE_BLOCKS;
  for (uint32_t i = count; i-- > 0;) {
    uint32_t off = l->blocks[i];
    shd_item *it = item_block(z, off);
    l->count = i; /* first: a block is never listed once freed */
    STORE_ORDER();
    if (it && shd_lane_owns(it, lane) && !shd_slot_find(z, off)) { /* not linked */
      __atomic_store_n(&it->tag, 0, __ATOMIC_RELAXED);
      blk_free(z, off);
    }
  }
  l->count = 0;
}

int shd_lane_claim(shd_zone *zone) {
  if (zone->lane != -1) return zone->lane >= 0;
  zone->lane = -2;
  if (!zone->shards[0].lanes) return 0;
  uint32_t me = shd_my_pid();
  /* a lane whose owner has ended first (what it left is cleared at once), then a free one */
  for (int pass = 0; pass < 2; pass++) {
    for (uint32_t i = 0; i < SHD_LANES; i++) {
      uint32_t *owner = &zone->h->lane_pid[i];
      uint32_t pid = LOAD(*owner);
      if (pass == 0 ? pid == 0 || !shd_pid_gone(pid) : pid != 0) continue;
      if (!__atomic_compare_exchange_n(owner, &pid, me, 0, __ATOMIC_ACQ_REL, __ATOMIC_RELAXED)) continue;
      zone->lane = (int)i;
      for (uint32_t s = 0; s < zone->nshards; s++) {
        zone->shards[s].lane = (int)i;
        zone->shards[s].lane_stale = 1; /* whatever an owner before left: cleared at the first sync */
      }
      return 1;
    }
  }
  return 0;
}

/*
 * Under the lock: a pending item into the LRU list, at its head. In a zone of several shards it
 * keeps the stamp of its add (dict.c, add_unlocked) rather than the time of this push, so that
 * getKeys, merging the shards by stamp, lists keys added in one batch or drain as they were
 * added, not shard after shard.
 */
static void place_pending(shd_shard *z, shd_item *it) {
  uint64_t added = it->stamp;
  shd_unpend(z, it);
  shd_lru_push(z, it);
  if (z->stamped && added) it->stamp = added;
}

/* Under the lock: puts the items this process added into the LRU list (those no locker met), in
   the order it added them. How many it placed. */
static uint32_t link_own(shd_shard *z) {
  uint32_t placed = 0;
  for (uint32_t i = 0; i < z->pending; i++) {
    shd_item *it = item_block(z, z->pending_items[i]);
    /* still the item this process added, and still pending */
    if (it && it->lprev == LRU_PENDING && it->lnext == LANE_MARK(z->lane) && LOAD(it->tag) == z->pending_tags[i]) {
      place_pending(z, it);
      placed++;
    }
  }
  z->pending = 0;
  return placed;
}

/* Lists a block in this process's reserve (under the lock; the block stays in use). */
static void reserve(shd_shard *z, shd_lane *l, uint32_t off) {
  shd_item *it = ITEM(z, off);
  it->tag = 0;
  it->lnext = 0;
  it->lprev = LANE_MARK(z->lane);
  CRASH_POINT(15);
  l->blocks[l->count] = off;
  STORE_ORDER();
  __atomic_store_n(&l->count, l->count + 1, __ATOMIC_RELEASE);
}

/*
 * Under the lock: an empty reserve takes a page of the heap, cut into SHD_PAGE_PAIRS blocks of one
 * pair of lines each (alloc.c, blk_cut), so that the items a process makes fill whole pages of its
 * own. The processor's prefetchers fetch past a pair within a page: when two processes' items
 * share one, each process's writes take lines the other's core had brought in (native/README.md,
 * "Pages of their own"). Listed from the page's end, so that the takes, from the list's end, fill
 * it from its start. Nothing when no free block has room for a page (the caller takes pairs).
 */
static void take_page(shd_shard *z, shd_lane *l) {
  uint32_t page = blk_alloc_aligned(z, SHD_PAGE, SHD_PAGE, BLK_ITEM);
  if (!page) return;
  blk_cut(z, page, SHD_LINE_PAIR);
  for (uint32_t i = SHD_PAGE_PAIRS; i-- > 0;) reserve(z, l, page + i * SHD_LINE_PAIR);
}

void shd_lane_sync(shd_shard *z) {
  shd_lane *l = &z->lanes[z->lane];
  if (z->lane_stale) {
    /* a lane taken over: the dead owner's pending items into the list, its reserve freed */
    shd_drain_pending(z, 1);
    lane_clear(z, z->lane);
    __atomic_store_n(&l->pending, 0, __ATOMIC_RELAXED);
    z->lane_stale = 0;
  }
  link_own(z);
  if (l->count == 0) take_page(z, l);
  while (l->count < SHD_LANE_FILL) {
    uint32_t off = blk_alloc_paired(z, SHD_LINE_PAIR, BLK_ITEM);
    if (!off) break;
    reserve(z, l, off);
  }
}

/*
 * Under the lock: a block of this process's reserve for the item of a number or boolean that a
 * store under the lock makes (dict.c, item_alloc), the reserve topped up first when it is empty.
 * So the items a process makes come from the batches its own lane took from the heap, whether an
 * add without the lock or a store under it made them: two processes making keys at the same
 * moments get runs of items of their own, where taking each from the heap put their items side by
 * side by turns, and the processor's prefetchers then pulled the other process's lines along with
 * a process's own at every write. 0 = none (no lane here, or no pair left in the heap): the caller
 * allocates from the heap as before. The block leaves the list before it is filled: one that a
 * crash leaves unlinked is reachable from nothing, and recovery frees it (recover.c).
 */
uint32_t shd_lane_take(shd_shard *z) {
  if (z->lane < 0) return 0;
  shd_lane *l = &z->lanes[z->lane];
  if (l->count == 0 || z->lane_stale) shd_lane_sync(z);
  uint32_t count = l->count;
  if (count == 0 || count > SHD_LANE_BLOCKS) return 0;
  uint32_t off = l->blocks[count - 1];
  shd_item *it = item_block(z, off);
  if (!it || !shd_lane_owns(it, z->lane) || blk_size(BLK(z, off)) != SHD_LINE_PAIR) return 0;
  __atomic_store_n(&l->count, count - 1, __ATOMIC_RELEASE);
  return off;
}

/*
 * Under the lock, as a delete frees an item: a block of one 128-byte pair goes to this process's
 * reserve rather than back to the heap, up to the shard's lane_keep (zone.c), so that the adds of
 * a process that also deletes fill blocks whose lines its own core holds and take no batch from
 * the heap (from the heap, a block is as likely another process's last, and a batch moves the
 * allocator's lines between the cores). Not an eviction's: a store evicts to make room in the
 * heap. 1 = kept.
 */
int shd_lane_keep(shd_shard *z, uint32_t off) {
  if (!z->deleting || z->lane < 0 || z->lane_stale || (off & (SHD_LINE_PAIR - 1)) ||
      blk_size(BLK(z, off)) != SHD_LINE_PAIR)
    return 0;
  shd_lane *l = &z->lanes[z->lane];
  if (l->count >= z->lane_keep) return 0;
  reserve(z, l, off);
  return 1;
}

/* A pending item a drain found, with the stamp of its add (dict.c, add_unlocked). */
typedef struct {
  uint64_t stamp;
  uint32_t off;
} pending_found;

/* The most pending items a drain orders: every lane's batch. A zone listing more is not as any
   process left it; the rest enter the list in the index's order. */
#define DRAIN_ORDERED (SHD_LANES * SHD_PENDING_MAX)

static int by_stamp(const void *a, const void *b) {
  const pending_found *x = a, *y = b;
  if (x->stamp != y->stamp) return x->stamp < y->stamp ? -1 : 1;
  return x->off < y->off ? -1 : x->off > y->off;
}

uint32_t shd_drain_pending(shd_shard *z, int force) {
  if (!z->lanes) return 0;
  int any = force;
  for (uint32_t i = 0; i < SHD_LANES && !any; i++) any = LOAD(z->lanes[i].pending) != 0;
  if (!any) return 0;
  /* Every process's, in the order they were added (the walk meets them in the index's order:
     `add k1, k2, k3; getKeys()` listed them in any order), this process's own among them. */
  static _Thread_local pending_found found[DRAIN_ORDERED];
  uint32_t placed = 0, nfound = 0;
  int broken = 0;
  for (uint32_t b = 0; b <= z->bucket_mask && !broken; b++) {
    uint32_t off = __atomic_load_n(&z->buckets[b].head, __ATOMIC_ACQUIRE);
    for (uint32_t steps = 0; off; steps++) {
      shd_item *it = steps < z->max_blocks ? shd_item_at(z, off) : NULL;
      if (!it) { /* the shard is marked corrupt: what was found is placed, nothing more read */
        broken = 1;
        break;
      }
      if (it->lprev == LRU_PENDING && nfound < DRAIN_ORDERED) {
        found[nfound++] = (pending_found){it->stamp, off};
      } else if (it->lprev == LRU_PENDING) {
        place_pending(z, it);
        placed++;
      }
      off = it->hnext;
    }
  }
  qsort(found, nfound, sizeof found[0], by_stamp);
  for (uint32_t i = 0; i < nfound; i++) place_pending(z, ITEM(z, found[i].off));
  if (z->lane >= 0 && !z->lane_stale) z->pending = 0; /* its own are placed with the rest */
  return placed + nfound;
}

/*
 * The lanes whose owner has ended, a bit each, and the pids read (pids): what their last owners
 * left reserved in each shard is freed by shd_lanes_reclaim. Looked at without any lock (a system
 * call each); kill() alone, so that a zombie still counts as there (its lane waits for the next).
 */
uint32_t shd_lanes_dead(const shd_shard *z, uint32_t pids[SHD_LANES]) {
  uint32_t dead = 0;
  if (!z->lanes) return 0;
  for (uint32_t i = 0; i < SHD_LANES; i++) {
    pids[i] = LOAD(z->lane_pid[i]);
    if (pids[i] != 0 && pids[i] != shd_my_pid() && kill((pid_t)pids[i], 0) != 0 && errno == ESRCH) dead |= 1u << i;
  }
  return dead;
}

/*
 * Under the lock: frees the blocks the lanes of `dead` (shd_lanes_dead) still list in this shard and
 * puts their pending items in the LRU list, as a process that takes such a lane over does at its
 * first batch (shd_lane_sync), so that a reserve does not outlive its process until the lane has a
 * new owner (the memory of processes killed and replaced, whose successors add no more). A lane
 * taken over since it was looked at is left to its new owner: its pid changed, and the new owner
 * adds in this shard only after a batch under this lock.
 */
void shd_lanes_reclaim(shd_shard *z, uint32_t dead, const uint32_t pids[SHD_LANES]) {
  int drained = 0;
  for (uint32_t i = 0; dead && i < SHD_LANES; i++) {
    shd_lane *l = &z->lanes[i];
    if (!(dead & 1u << i) || LOAD(z->lane_pid[i]) != pids[i] || (!LOAD(l->count) && !LOAD(l->pending))) continue;
    if (!drained) drained = shd_drain_pending(z, 1) | 1;
    lane_clear(z, (int)i);
    __atomic_store_n(&l->pending, 0, __ATOMIC_RELAXED);
  }
}

/* How often, at most, an allocation that found no room looks for ended lanes (SHD_LANES system
   calls) in one shard: in a full zone, where every store evicts, once a second per process. */
#define RECLAIM_EVERY_MS 1000u

/*
 * Under the lock, when an allocation found no room (a store, before it evicts or answers "no
 * memory"; a push, before "no memory"): what the lanes of ended processes still hold in this
 * shard goes back to the heap (shd_lanes_reclaim), so that a full zone evicts live items only
 * once the reserves of processes killed or gone are used up; before, they waited for a
 * freeSpace(), a flush or a process taking the lane over. 1 = something was freed: allocate again.
 */
int shd_lanes_reclaim_for_room(shd_shard *z, clockc *c) {
  if (!z->lanes) return 0;
  const uint64_t now = now_of(c);
  if (z->reclaim_ms && now - z->reclaim_ms < RECLAIM_EVERY_MS) return 0;
  z->reclaim_ms = now;
  uint32_t pids[SHD_LANES];
  const uint32_t dead = shd_lanes_dead(z, pids);
  if (!dead) return 0;
  const uint64_t before = z->h->free_bytes;
  shd_lanes_reclaim(z, dead, pids);
  return z->h->free_bytes > before;
}

/*
 * Without the lock: the bytes the lanes of `dead` (shd_lanes_dead) list in this shard, which the
 * next reclaim gives back (counted as the pairs they are; a block a dead owner's add linked is
 * not freed by it, so this may count a pair too many per lane killed in an add).
 */
uint64_t shd_lanes_dead_reserve(const shd_shard *z, uint32_t dead) {
  uint64_t bytes = 0;
  for (uint32_t i = 0; z->lanes && dead && i < SHD_LANES; i++) {
    if (!(dead & 1u << i)) continue;
    const uint32_t count = __atomic_load_n(&z->lanes[i].count, __ATOMIC_RELAXED);
    bytes += (uint64_t)(count < SHD_LANE_BLOCKS ? count : SHD_LANE_BLOCKS) * SHD_LINE_PAIR;
  }
  return bytes;
}

void shd_lane_release(shd_zone *zone) {
  if (zone->lane < 0) return;
  for (uint32_t s = 0; s < zone->nshards; s++) {
    shd_shard *z = &zone->shards[s];
    shd_lock(z);
    if (z->lane_stale) shd_drain_pending(z, 1);
    link_own(z);
    lane_clear(z, z->lane);
    __atomic_store_n(&z->lanes[z->lane].pending, 0, __ATOMIC_RELAXED);
    shd_unlock(z);
    z->lane = -1;
  }
  __atomic_store_n(&zone->h->lane_pid[zone->lane], 0, __ATOMIC_RELEASE);
  zone->lane = -1;
}
