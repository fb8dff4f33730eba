/*
 * Recovery after a lock holder died (check.c has the consistency check the tests use).
 *
 * Recovery trusts only the authoritative state (layout.h): the block headers, which parse
 * from the heap's start to its end at every instant; the hash chains; each list's next
 * links; the items' contents. It rebuilds everything else, in four passes:
 *   1. walk the heap by block sizes, noting where blocks start (if the walk does not parse,
 *      which the store order rules out, the zone is emptied and `resets` counts it); then
 *      hold adds without the lock off until the end (hold_adds), and note the blocks that the
 *      lanes of live processes hold in reserve (lanes.c);
 *   2. follow every hash chain and list from the index, validating each item and node
 *      (a block start of the right state, a key that hashes to its bucket, sizes within the
 *      block, no cycle) and marking it reachable; an invalid link is cut there. A list's
 *      prev links, tail and length are recomputed;
 *   3. sweep: every block not reachable, not reserved and not free (an item being written, or
 *      one being freed) becomes free, runs of free blocks merge (one size store each), prev_size is
 *      rewritten and the free lists, bitmaps and counters are rebuilt;
 *   4. rebuild the LRU list: the old list is followed from its head as far as it is valid,
 *      and reachable items it missed (the one being moved) go to the head.
 * Every pass only re-derives state or makes single stores of the same kinds as the
 * operations, so a process killed during recovery leaves work the next locker redoes.
 */
#include <stdlib.h>
#include <string.h>

#include "shard.h"
#include "walk.h"

/* Pass 1: the block starts, or 0 when the heap does not parse. */
int shd_walk(shd_shard *z, bitmap *starts) {
  uint32_t off = z->heap_start;
  while (off < z->heap_end) {
    shd_block *b = BLK(z, off);
    uint32_t size = blk_size(b);
    if (size < SHD_MIN_BLOCK || size > z->heap_end - off || blk_state(b) > BLK_NODE) return 0;
    bm_set(starts, off);
    off += size;
  }
  return off == z->heap_end;
}

int shd_in_heap(shd_shard *z, uint32_t off) {
  return off >= z->heap_start && off < z->heap_end && off % SHD_ALIGN == 0;
}

const char *shd_item_problem(shd_shard *z, const bitmap *starts, const bitmap *marks, uint32_t off,
                                uint32_t bucket) {
  if (!shd_in_heap(z, off) || !bm_get(starts, off)) return "points outside any block";
  shd_item *it = ITEM(z, off);
  if (blk_state(&it->b) != BLK_ITEM) return "points to a block that is not an item";
  if (bm_get(marks, off)) return "reaches an item twice (a cycle)";
  uint16_t klen = LOAD(it->klen); /* the length hashed below is the one checked */
  if (klen == 0) return "has an empty key";
  if (it->type < T_STRING || it->type > T_LIST) return "has an unknown value type";
  uint64_t need = (uint64_t)ITEM_HEADER + klen + (it->type == T_STRING || it->type == T_BINARY ? it->vlen : 0);
  if (need > blk_size(&it->b) || !shd_span(z, off, (uint64_t)ITEM_HEADER + klen))
    return "has a key and value larger than its block";
  if (shd_hash(z->seed, it->data, klen) != it->hash) return "has a hash that is not its key's";
  if ((it->hash & z->bucket_mask) != bucket) return "is in another key's bucket";
  return NULL;
}

const char *shd_node_problem(shd_shard *z, const bitmap *starts, const bitmap *marks, uint32_t off) {
  if (!shd_in_heap(z, off) || !bm_get(starts, off)) return "points outside any block";
  shd_node *n = NODE(z, off);
  if (blk_state(&n->b) != BLK_NODE) return "points to a block that is not a list node";
  if (bm_get(marks, off)) return "reaches a node twice (a cycle)";
  if (n->type != T_STRING && n->type != T_NUMBER) return "has an unknown value type";
  if ((uint64_t)NODE_HEADER + (n->type == T_NUMBER ? 8 : n->vlen) > blk_size(&n->b)) return "is larger than its block";
  return NULL;
}

/* Pass 2 for one list: marks its nodes, cuts an invalid link, rederives prev/tail/length. */
static uint32_t mark_list(shd_shard *z, shd_item *it, const bitmap *starts, bitmap *marks) {
  uint32_t count = 0, prev = 0;
  uint32_t *link = &it->v.lhead;
  while (*link) {
    uint32_t n = *link;
    if (shd_node_problem(z, starts, marks, n)) {
      *link = 0;
      break;
    }
    bm_set(marks, n);
    NODE(z, n)->prev = prev;
    prev = n;
    count++;
    link = &NODE(z, n)->next;
  }
  it->ltail = prev;
  it->vlen = count;
  return count;
}

/* Cuts bucket b's chain at `slot`, which held `off`: a head written as lockers write it. */
static void cut(shd_shard *z, uint32_t b, uint32_t *slot, uint32_t off, uint32_t next) {
  if (slot == &z->buckets[b].head) shd_bucket_swap(&z->buckets[b], off, next);
  else *slot = next, shd_bucket_bump(&z->buckets[b]);
}

static uint32_t mark(shd_shard *z, const bitmap *starts, bitmap *marks) {
  uint32_t items = 0;
  for (uint32_t b = 0; b <= z->bucket_mask; b++) {
    uint32_t *slot = &z->buckets[b].head;
    while (*slot) {
      uint32_t off = *slot;
      if (shd_item_problem(z, starts, marks, off, b)) {
        cut(z, b, slot, off, 0);
        break;
      }
      shd_item *it = ITEM(z, off);
      if (it->type == T_LIST && mark_list(z, it, starts, marks) == 0) {
        /* an empty list is no key */
        cut(z, b, slot, off, it->hnext);
        continue;
      }
      bm_set(marks, off);
      items++;
      slot = &it->hnext;
    }
  }
  return items;
}

/* Pass 3. */
static void sweep(shd_shard *z, const bitmap *marks) {
  shd_shard_hdr *h = z->h;
  freelist_reset(z);
  h->free_bytes = 0;
  uint32_t off = z->heap_start, prev_size = 0;
  while (off < z->heap_end) {
    shd_block *b = BLK(z, off);
    uint32_t size = blk_size(b);
    if (blk_state(b) != BLK_FREE && !bm_get(marks, off)) {
      if (blk_state(b) == BLK_ITEM) ((shd_item *)b)->tag = 0; /* as shd_item_release */
      STORE_ORDER();
      b->size_state = size | BLK_FREE;
    }
    if (blk_state(b) == BLK_FREE) {
      uint32_t end = off + size;
      while (end < z->heap_end && (blk_state(BLK(z, end)) == BLK_FREE || !bm_get(marks, end))) {
        if (blk_state(BLK(z, end)) == BLK_ITEM) ITEM(z, end)->tag = 0;
        size += blk_size(BLK(z, end));
        end = off + size;
        STORE_ORDER();
        b->size_state = size | BLK_FREE;
        CRASH_POINT(10);
      }
      freelist_insert(z, off);
      h->free_bytes += size;
    }
    b->prev_size = prev_size;
    prev_size = size;
    off += size;
  }
}

/* Pass 4. `placed` starts as a copy of the reachable items and loses each one placed. */
static void rebuild_lru(shd_shard *z, bitmap *placed, uint32_t items) {
  shd_shard_hdr *h = z->h;
  uint32_t head = 0, tail = 0, steps = 0;
  uint32_t cur = h->lru_head;
  while (cur && steps++ <= items && shd_in_heap(z, cur) && bm_get(placed, cur) && blk_state(BLK(z, cur)) == BLK_ITEM) {
    shd_item *it = ITEM(z, cur);
    uint32_t next = it->lnext;
    bm_clear(placed, cur);
    it->lprev = tail;
    it->lnext = 0;
    if (tail) ITEM(z, tail)->lnext = cur;
    else head = cur;
    tail = cur;
    cur = next;
  }
  uint64_t now = z->stamped ? shd_stamp() : 0;
  for (uint32_t off = z->heap_start; off < z->heap_end; off = shd_next_block(z, off)) {
    if (blk_state(BLK(z, off)) != BLK_ITEM || !bm_get(placed, off)) continue;
    shd_item *it = ITEM(z, off);
    it->stamp = now;
    it->lprev = 0;
    it->lnext = head;
    if (head) ITEM(z, head)->lprev = off;
    else tail = off;
    head = off;
  }
  h->lru_head = head;
  h->lru_tail = tail;
}

/* Writes every bucket's head to 0, counting up its version (shard_reset). */
static void empty_heads(shd_shard *z) {
  for (uint32_t b = 0; b <= z->bucket_mask; b++) {
    shd_bucket seen;
    do __atomic_load(&z->buckets[b], &seen, __ATOMIC_RELAXED);
    while (!shd_bucket_swap(&z->buckets[b], seen.head, 0));
  }
}

/*
 * Keeps adds without the lock out of the shard while recovery runs (on = 1) or lets them in again
 * (on = 0). Each lane says so to its owner, which looks after it has read a bucket; and every
 * bucket's version is counted up after, so that an add that read a bucket before fails its
 * compare-and-swap: an add links its item before the bucket's count, and so before the passes
 * read the chains, or not at all (dict.c, add_unlocked).
 */
static void hold_adds(shd_shard *z, int on) {
  if (!z->lanes) return;
  for (uint32_t i = 0; i < SHD_LANES; i++) __atomic_store_n(&z->lanes[i].recovering, (uint32_t)on, __ATOMIC_RELAXED);
  __atomic_thread_fence(__ATOMIC_SEQ_CST);
  if (on) {
    for (uint32_t b = 0; b <= z->bucket_mask; b++) shd_bucket_bump(&z->buckets[b]);
  }
}

/*
 * The blocks the lanes reserve (lanes.c): those of a live owner are kept (listed in kept, up to
 * SHD_LANES * SHD_LANE_BLOCKS); a dead owner's lane is emptied, and the sweep frees its blocks
 * unless an add linked one. Returns how many were kept.
 */
static uint32_t reserves(shd_shard *z, const shd_header *zh, const bitmap *starts, uint32_t *kept) {
  uint32_t n = 0;
  if (!z->lanes) return 0;
  for (uint32_t i = 0; i < SHD_LANES; i++) {
    shd_lane *l = &z->lanes[i];
    uint32_t count = LOAD(l->count);
    if (count == 0) continue;
    uint32_t pid = LOAD(zh->lane_pid[i]);
    if (pid == 0 || shd_pid_gone(pid) || count > SHD_LANE_BLOCKS) {
      l->count = 0;
      continue;
    }
    for (uint32_t j = 0; j < count; j++) {
      uint32_t off = LOAD(l->blocks[j]);
      if (shd_block_at(z, starts, off, BLK_ITEM)) kept[n++] = off;
    }
  }
  return n;
}

/* Empties the shard: recovery's last resort, and a locked operation's when it met a link out of
   the heap (bounds.h). The lanes' reserves go with the heap. */
void shard_reset(shd_shard *z) {
  empty_heads(z);
  if (z->lanes) {
    for (uint32_t i = 0; i < SHD_LANES; i++) z->lanes[i].count = z->lanes[i].pending = 0;
  }
  heap_format(z);
  z->h->resets++;
}

void shard_recover(shd_shard *z) {
  bitmap starts = {0}, marks = {0};
  if (!bm_init(&starts, z) || !bm_init(&marks, z)) {
    shard_reset(z); /* no memory to recover with: a zone emptied beats a zone unusable */
  } else if (!shd_walk(z, &starts)) {
    shard_reset(z);
  } else {
    uint32_t kept[SHD_LANES * SHD_LANE_BLOCKS];
    hold_adds(z, 1);
    uint32_t nkept = reserves(z, (const shd_header *)(const void *)z->base, &starts, kept);
    uint32_t items = mark(z, &starts, &marks);
    /* the reserved blocks survive the sweep as if reachable, and are no items of the LRU list */
    uint32_t spared = 0;
    for (uint32_t i = 0; i < nkept; i++) {
      if (!bm_get(&marks, kept[i])) {
        bm_set(&marks, kept[i]);
        kept[spared++] = kept[i];
      }
    }
    sweep(z, &marks);
    for (uint32_t i = 0; i < spared; i++) bm_clear(&marks, kept[i]);
    z->h->items = items;
    /* Only items are in the LRU list: drop the nodes from the reachable set. */
    for (uint32_t off = z->heap_start; off < z->heap_end; off = shd_next_block(z, off)) {
      if (blk_state(BLK(z, off)) == BLK_NODE) bm_clear(&marks, off);
    }
    rebuild_lru(z, &marks, items); /* also places the items adds without the lock left pending */
    if (z->lanes) {
      for (uint32_t i = 0; i < SHD_LANES; i++) __atomic_store_n(&z->lanes[i].pending, 0, __ATOMIC_RELAXED);
    }
    hold_adds(z, 0);
  }
  free(starts.bits);
  free(marks.bits);
}
