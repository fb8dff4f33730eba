/*
 * Recovery after a lock holder died, and the consistency check the tests use.
 *
 * Recovery trusts only the authoritative state (layout.h): the block headers, which parse
 * from the heap's start to its end at every instant; the hash chains; each list's next
 * links; the items' contents. It rebuilds everything else, in four passes:
 *   1. walk the heap by block sizes, noting where blocks start (if the walk does not parse,
 *      which the store order rules out, the zone is emptied and `resets` counts it);
 *   2. follow every hash chain and list from the index, validating each item and node
 *      (a block start of the right state, a key that hashes to its bucket, sizes within the
 *      block, no cycle) and marking it reachable; an invalid link is cut there. A list's
 *      prev links, tail and length are recomputed;
 *   3. sweep: every block not reachable and not free (an item being written, or one being
 *      freed) becomes free, runs of free blocks merge (one size store each), prev_size is
 *      rewritten and the free lists, bitmaps and counters are rebuilt;
 *   4. rebuild the LRU list: the old list is followed from its head as far as it is valid,
 *      and reachable items it missed (the one being moved) go to the head.
 * Every pass only re-derives state or makes single stores of the same kinds as the
 * operations, so a process killed during recovery leaves work the next locker redoes.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dict.h"

typedef struct {
  uint64_t *bits;
  uint32_t start;
} bitmap;

static int bm_init(bitmap *m, shd_shard_hdr *h) {
  size_t units = (h->heap_end - h->heap_start) / SHD_ALIGN;
  m->start = h->heap_start;
  m->bits = calloc((units + 63) / 64, sizeof(uint64_t));
  return m->bits != NULL;
}
static inline size_t bm_unit(const bitmap *m, uint32_t off) { return (off - m->start) / SHD_ALIGN; }
static inline int bm_get(const bitmap *m, uint32_t off) {
  size_t u = bm_unit(m, off);
  return (int)((m->bits[u / 64] >> (u % 64)) & 1u);
}
static inline void bm_set(bitmap *m, uint32_t off) {
  size_t u = bm_unit(m, off);
  m->bits[u / 64] |= 1ull << (u % 64);
}
static inline void bm_clear(bitmap *m, uint32_t off) {
  size_t u = bm_unit(m, off);
  m->bits[u / 64] &= ~(1ull << (u % 64));
}

/* Pass 1: the block starts, or 0 when the heap does not parse. */
static int walk(shd_shard *z, bitmap *starts) {
  shd_shard_hdr *h = z->h;
  uint32_t off = h->heap_start;
  while (off < h->heap_end) {
    shd_block *b = BLK(z, off);
    uint32_t size = blk_size(b);
    if (size < SHD_MIN_BLOCK || size > h->heap_end - off || blk_state(b) > BLK_NODE) return 0;
    bm_set(starts, off);
    off += size;
  }
  return off == h->heap_end;
}

static int in_heap(shd_shard *z, uint32_t off) {
  return off >= z->h->heap_start && off < z->h->heap_end && off % SHD_ALIGN == 0;
}

static const char *item_problem(shd_shard *z, const bitmap *starts, const bitmap *marks, uint32_t off,
                                uint32_t bucket) {
  if (!in_heap(z, off) || !bm_get(starts, off)) return "points outside any block";
  shd_item *it = ITEM(z, off);
  if (blk_state(&it->b) != BLK_ITEM) return "points to a block that is not an item";
  if (bm_get(marks, off)) return "reaches an item twice (a cycle)";
  if (it->klen == 0) return "has an empty key";
  if (it->type < T_STRING || it->type > T_LIST) return "has an unknown value type";
  uint64_t need = (uint64_t)ITEM_HEADER + it->klen + (it->type == T_STRING || it->type == T_BINARY ? it->vlen : 0);
  if (need > blk_size(&it->b)) return "has a key and value larger than its block";
  if (shd_hash(z->seed, it->data, it->klen) != it->hash) return "has a hash that is not its key's";
  if ((it->hash & z->h->bucket_mask) != bucket) return "is in another key's bucket";
  return NULL;
}

static const char *node_problem(shd_shard *z, const bitmap *starts, const bitmap *marks, uint32_t off) {
  if (!in_heap(z, off) || !bm_get(starts, off)) return "points outside any block";
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
    if (node_problem(z, starts, marks, n)) {
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

static uint32_t mark(shd_shard *z, const bitmap *starts, bitmap *marks) {
  uint32_t items = 0;
  for (uint32_t b = 0; b <= z->h->bucket_mask; b++) {
    uint32_t *slot = &z->buckets[b];
    while (*slot) {
      uint32_t off = *slot;
      if (item_problem(z, starts, marks, off, b)) {
        *slot = 0;
        break;
      }
      shd_item *it = ITEM(z, off);
      if (it->type == T_LIST && mark_list(z, it, starts, marks) == 0) {
        *slot = it->hnext; /* an empty list is no key */
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
  uint32_t off = h->heap_start, prev_size = 0;
  while (off < h->heap_end) {
    shd_block *b = BLK(z, off);
    uint32_t size = blk_size(b);
    if (blk_state(b) != BLK_FREE && !bm_get(marks, off)) {
      STORE_ORDER();
      b->size_state = size | BLK_FREE;
    }
    if (blk_state(b) == BLK_FREE) {
      uint32_t end = off + size;
      while (end < h->heap_end && (blk_state(BLK(z, end)) == BLK_FREE || !bm_get(marks, end))) {
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
  while (cur && steps++ <= items && in_heap(z, cur) && bm_get(placed, cur) && blk_state(BLK(z, cur)) == BLK_ITEM) {
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
  for (uint32_t off = h->heap_start; off < h->heap_end; off += blk_size(BLK(z, off))) {
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

static void reset(shd_shard *z) {
  memset(z->buckets, 0, ((size_t)z->h->bucket_mask + 1) * sizeof(uint32_t));
  heap_format(z);
  z->h->resets++;
}

void shard_recover(shd_shard *z) {
  bitmap starts = {0}, marks = {0};
  if (!bm_init(&starts, z->h) || !bm_init(&marks, z->h)) {
    reset(z); /* no memory to recover with: a zone emptied beats a zone unusable */
  } else if (!walk(z, &starts)) {
    reset(z);
  } else {
    uint32_t items = mark(z, &starts, &marks);
    sweep(z, &marks);
    z->h->items = items;
    /* Only items are in the LRU list: drop the nodes from the reachable set. */
    for (uint32_t off = z->h->heap_start; off < z->h->heap_end; off += blk_size(BLK(z, off))) {
      if (blk_state(BLK(z, off)) == BLK_NODE) bm_clear(&marks, off);
    }
    rebuild_lru(z, &marks, items);
  }
  free(starts.bits);
  free(marks.bits);
}

/* ---------------------------------------------------------------- check */

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
  shd_shard_hdr *h = z->h;
  uint32_t off = h->heap_start, prev_size = 0, prev_free = 0;
  while (off < h->heap_end) {
    shd_block *b = BLK(z, off);
    uint32_t size = blk_size(b);
    if (size < SHD_MIN_BLOCK || size > h->heap_end - off || blk_state(b) > BLK_NODE) {
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
        if (!in_heap(z, off) || !bm_get(starts, off) || blk_state(BLK(z, off)) != BLK_FREE) {
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
    const char *p = node_problem(z, starts, marks, n);
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

static uint32_t check_index(shd_shard *z, reporter *r, const bitmap *starts, bitmap *marks) {
  uint32_t items = 0;
  for (uint32_t b = 0; b <= z->h->bucket_mask; b++) {
    for (uint32_t off = z->buckets[b]; off; off = ITEM(z, off)->hnext) {
      const char *p = item_problem(z, starts, marks, off, b);
      if (p) {
        problem(r, "index: bucket %u %s (item %u)", b, p, off);
        break;
      }
      shd_item *it = ITEM(z, off);
      for (uint32_t o = z->buckets[b]; o != off; o = ITEM(z, o)->hnext) {
        shd_item *other = ITEM(z, o);
        if (other->klen == it->klen && memcmp(other->data, it->data, it->klen) == 0) problem(r, "index: key in bucket %u twice", b);
      }
      if (it->type == T_LIST) check_list(z, r, it, starts, marks);
      bm_set(marks, off);
      items++;
    }
  }
  return items;
}

static void check_lru(shd_shard *z, reporter *r, const bitmap *marks, uint32_t items) {
  shd_shard_hdr *h = z->h;
  uint32_t count = 0, prev = 0;
  for (uint32_t off = h->lru_head; off; off = ITEM(z, off)->lnext) {
    if (!in_heap(z, off) || !bm_get(marks, off) || blk_state(BLK(z, off)) != BLK_ITEM) {
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
  bitmap starts = {0}, marks = {0};
  if (!bm_init(&starts, h) || !bm_init(&marks, h)) {
    problem(&r, "check: out of memory");
    goto done;
  }
  uint64_t free_bytes = 0;
  uint32_t free_blocks = 0;
  check_heap(z, &r, &starts, &free_bytes, &free_blocks);
  if (r.count) goto done;
  check_free_lists(z, &r, &starts, free_blocks);
  if (free_bytes != h->free_bytes) problem(&r, "counters: free_bytes is %llu, free blocks hold %llu", (unsigned long long)h->free_bytes, (unsigned long long)free_bytes);
  uint32_t items = check_index(z, &r, &starts, &marks);
  if (items != h->items) problem(&r, "counters: items is %u, the index holds %u", h->items, items);
  check_lru(z, &r, &marks, items);
  for (uint32_t off = h->heap_start; off < h->heap_end; off += blk_size(BLK(z, off))) {
    if (blk_state(BLK(z, off)) != BLK_FREE && !bm_get(&marks, off)) problem(&r, "heap: block %u is in use but unreachable (a leak)", off);
  }
done:
  free(starts.bits);
  free(marks.bits);
  return r.count;
}
