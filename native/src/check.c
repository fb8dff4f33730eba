/*
 * check(): validates a shard without changing it — heap walk, prev_size, merged free blocks,
 * the free lists against the blocks, every chain, list and LRU link, no duplicate key, no
 * unreachable block, the counters — and reports every problem it finds (none in a healthy
 * shard). The tests call it after each crash.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shard.h"
#include "walk.h"

typedef struct {
  shd_problem_fn report;
  void *ctx;
  uint32_t count;
} reporter;

static void problem(reporter *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void problem(reporter *r, const char *fmt, ...) {
  char text[256];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(text, sizeof text, fmt, ap);
  va_end(ap);
  if (r->count++ < 100) r->report(r->ctx, text);
}

static void check_heap(shd_shard *z, reporter *r, bitmap *starts, uint64_t *free_bytes, uint32_t *free_blocks) {
  uint32_t off = z->heap_start, prev_size = 0, prev_free = 0;
  while (off < z->heap_end) {
    shd_block *b = BLK(z, off);
    uint32_t size = blk_size(b);
    if (size < SHD_MIN_BLOCK || size > z->heap_end - off || blk_state(b) > BLK_NODE) {
      problem(r, "heap: block at %u has size %u and state %u", off, size, blk_state(b));
      return;
    }
    if (b->prev_size != prev_size) problem(r, "heap: block at %u has prev_size %u, not %u", off, b->prev_size, prev_size);
    int is_free = blk_state(b) == BLK_FREE;
    if (is_free && prev_free) problem(r, "heap: free blocks at %u and before are not merged", off);
    if (is_free) {
      *free_bytes += size;
      (*free_blocks)++;
    }
    bm_set(starts, off);
    prev_free = is_free;
    prev_size = size;
    off += size;
  }
}

static void check_free_lists(shd_shard *z, reporter *r, const bitmap *starts, uint32_t free_blocks) {
  shd_shard_hdr *h = z->h;
  uint32_t listed = 0;
  for (uint32_t fl = 0; fl < FL_COUNT; fl++) {
    if (!!(h->fl_bitmap & (1u << fl)) != !!h->sl_bitmap[fl]) problem(r, "free lists: level %u bitmap disagrees", fl);
    for (uint32_t sl = 0; sl < SL_COUNT; sl++) {
      uint32_t head = h->bins[fl][sl];
      if (!!head != !!(h->sl_bitmap[fl] & (1u << sl))) problem(r, "free lists: class %u.%u bitmap disagrees", fl, sl);
      uint32_t prev = 0;
      for (uint32_t off = head; off; off = ((shd_free *)AT(z, off))->next) {
        if (!shd_block_at(z, starts, off, BLK_FREE)) {
          problem(r, "free lists: class %u.%u links %u, not a free block", fl, sl, off);
          break;
        }
        shd_free *f = (shd_free *)AT(z, off);
        uint32_t cfl, csl;
        size_class(blk_size(&f->b), &cfl, &csl);
        if (cfl != fl || csl != sl) problem(r, "free lists: block %u of size %u is in class %u.%u", off, blk_size(&f->b), fl, sl);
        if (f->prev != prev) problem(r, "free lists: block %u has a wrong prev link", off);
        prev = off;
        if (++listed > free_blocks) {
          problem(r, "free lists: more entries than free blocks (a cycle?)");
          return;
        }
      }
    }
  }
  if (listed != free_blocks) problem(r, "free lists: %u entries for %u free blocks", listed, free_blocks);
}

static void check_list(shd_shard *z, reporter *r, shd_item *it, const bitmap *starts, bitmap *marks) {
  uint32_t count = 0, prev = 0;
  for (uint32_t n = it->v.lhead; n; n = NODE(z, n)->next) {
    const char *p = shd_node_problem(z, starts, marks, n);
    if (p) {
      problem(r, "list %.*s: node %u %s", it->klen > 40 ? 40 : it->klen, it->data, n, p);
      return;
    }
    if (NODE(z, n)->prev != prev) problem(r, "list %.*s: node %u has a wrong prev link", it->klen > 40 ? 40 : it->klen, it->data, n);
    bm_set(marks, n);
    prev = n;
    count++;
  }
  if (count == 0) problem(r, "list item %u is empty", OFF(z, it));
  if (it->ltail != prev) problem(r, "list item %u has a wrong tail", OFF(z, it));
  if (it->vlen != count) problem(r, "list item %u has length %u, holds %u", OFF(z, it), it->vlen, count);
}

/* The items of the index; *pending: how many of them adds without the lock left out of the LRU
   list so far (lanes.c). */
static uint32_t check_index(shd_shard *z, reporter *r, const bitmap *starts, bitmap *marks, uint32_t *pending) {
  uint32_t items = 0;
  for (uint32_t b = 0; b <= z->bucket_mask; b++) {
    for (uint32_t off = LOAD(z->buckets[b].head); off; off = ITEM(z, off)->hnext) {
      const char *p = shd_item_problem(z, starts, marks, off, b);
      if (p) {
        problem(r, "index: bucket %u %s (item %u)", b, p, off);
        break;
      }
      shd_item *it = ITEM(z, off);
      for (uint32_t o = LOAD(z->buckets[b].head); o != off; o = ITEM(z, o)->hnext) {
        shd_item *other = ITEM(z, o);
        if (other->klen == it->klen && memcmp(other->data, it->data, it->klen) == 0) problem(r, "index: key in bucket %u twice", b);
      }
      if (it->type == T_LIST) check_list(z, r, it, starts, marks);
      if (it->lprev == LRU_PENDING) {
        if (!z->lanes || LANE_OF_MARK(it->lnext) < 0) problem(r, "index: item %u is pending but of no lane", off);
        ++*pending;
      }
      bm_set(marks, off);
      items++;
    }
  }
  return items;
}

/* Every lane's reserve: the blocks it lists that are still its own (marked: lanes.c). A lane that
   a dead owner left, not taken over yet, may list blocks since freed and used again. */
static void check_lanes(shd_shard *z, reporter *r, const bitmap *starts, bitmap *reserved) {
  if (!z->lanes) return;
  for (uint32_t i = 0; i < SHD_LANES; i++) {
    const shd_lane *l = &z->lanes[i];
    uint32_t count = LOAD(l->count);
    if (count > SHD_LANE_BLOCKS) {
      problem(r, "lanes: lane %u lists %u blocks", i, count);
      continue;
    }
    for (uint32_t j = 0; j < count; j++) {
      uint32_t off = LOAD(l->blocks[j]);
      if (!shd_block_at(z, starts, off, BLK_ITEM) || !shd_lane_owns(ITEM(z, off), (int)i)) continue;
      if (bm_get(reserved, off)) problem(r, "lanes: block %u is listed twice", off);
      bm_set(reserved, off);
    }
  }
}

static void check_lru(shd_shard *z, reporter *r, const bitmap *marks, uint32_t items) {
  shd_shard_hdr *h = z->h;
  uint32_t count = 0, prev = 0;
  for (uint32_t off = h->lru_head; off; off = ITEM(z, off)->lnext) {
    if (!shd_in_heap(z, off) || !bm_get(marks, off) || blk_state(BLK(z, off)) != BLK_ITEM) {
      problem(r, "lru: links %u, not an indexed item", off);
      return;
    }
    if (ITEM(z, off)->lprev != prev) problem(r, "lru: item %u has a wrong prev link", off);
    prev = off;
    if (++count > items) {
      problem(r, "lru: longer than the %u items (a cycle or a stray item)", items);
      return;
    }
  }
  if (h->lru_tail != prev) problem(r, "lru: the tail is %u, not %u", h->lru_tail, prev);
  if (count != items) problem(r, "lru: %u entries for %u items", count, items);
}

uint32_t shard_check(shd_shard *z, shd_problem_fn report, void *ctx) {
  reporter r = {report, ctx, 0};
  shd_shard_hdr *h = z->h;
  bitmap starts = {0}, marks = {0}, reserved = {0};
  if (!bm_init(&starts, z) || !bm_init(&marks, z)) {
    problem(&r, "check: out of memory");
    goto done;
  }
  uint64_t free_bytes = 0;
  uint32_t free_blocks = 0;
  check_heap(z, &r, &starts, &free_bytes, &free_blocks);
  if (r.count) goto done;
  check_free_lists(z, &r, &starts, free_blocks);
  if (free_bytes != h->free_bytes) problem(&r, "counters: free_bytes is %llu, free blocks hold %llu", (unsigned long long)h->free_bytes, (unsigned long long)free_bytes);
  /* The lanes' reserves are read before the index: an add without the lock that links one of
     their blocks meanwhile lowers its lane's count after the link (lanes.c). */
  if (!bm_init(&reserved, z)) {
    problem(&r, "check: out of memory");
    goto done;
  }
  check_lanes(z, &r, &starts, &reserved);
  uint32_t pending = 0;
  uint32_t items = check_index(z, &r, &starts, &marks, &pending);
  if (items - pending != h->items)
    problem(&r, "counters: items is %u, the index holds %u (%u not yet in the LRU list)", h->items, items, pending);
  check_lru(z, &r, &marks, items - pending);
  for (uint32_t off = z->heap_start; off < z->heap_end; off = shd_next_block(z, off)) {
    if (blk_state(BLK(z, off)) != BLK_FREE && !bm_get(&marks, off) && !bm_get(&reserved, off))
      problem(&r, "heap: block %u is in use but unreachable (a leak)", off);
  }
done:
  free(starts.bits);
  free(marks.bits);
  free(reserved.bits);
  return r.count;
}
