/*
 * The heap allocator: TLSF (two-level segregated fit) with immediate coalescing.
 *
 * Why not nginx's slab pages: a slab allocator rounds every item up to a power of two, so a
 * zone of mixed sizes wastes up to half its memory, and its page bitmaps are more state to
 * keep crash-consistent. TLSF finds a block of at least the requested size in O(1) through
 * two bitmaps, splits off the rest, and merges a freed block with free neighbours, so free
 * memory stays in large blocks. Only block headers (size | state, one 32-bit store each)
 * are authoritative; free lists, bitmaps and prev_size are derived and rebuilt by recovery.
 *
 * Store order in a split: the remainder's header is written inside the free block first
 * (invisible to a heap walk, which follows sizes), then the allocated block's size and
 * state in one store. In a free: the block's state becomes FREE in one store, then each
 * merge is one store of the surviving header's size. A walk of the heap by sizes therefore
 * always parses, at any instant.
 */
#include "bounds.h"

void size_class(uint32_t size, uint32_t *fl, uint32_t *sl) {
  if (size < SMALL_LIMIT) {
    *fl = 0;
    *sl = size / SHD_ALIGN;
  } else {
    uint32_t f = 31u - (uint32_t)__builtin_clz(size);
    *sl = (size >> (f - SL_LOG2)) ^ SL_COUNT;
    *fl = f - (FL_SHIFT - 1);
  }
}

static shd_free *FREE_AT(shd_shard *z, uint32_t off) { return (shd_free *)AT(z, off); }

void freelist_insert(shd_shard *z, uint32_t off) {
  shd_shard_hdr *h = z->h;
  shd_free *f = FREE_AT(z, off);
  uint32_t fl, sl;
  size_class(blk_size(&f->b), &fl, &sl);
  uint32_t head = h->bins[fl][sl];
  f->next = head;
  f->prev = 0;
  shd_free *first = head ? shd_free_at(z, head) : NULL;
  if (first) first->prev = off;
  h->bins[fl][sl] = off;
  h->fl_bitmap |= 1u << fl;
  h->sl_bitmap[fl] |= 1u << sl;
}

static void freelist_remove(shd_shard *z, uint32_t off) {
  shd_shard_hdr *h = z->h;
  shd_free *f = FREE_AT(z, off);
  uint32_t fl, sl;
  size_class(blk_size(&f->b), &fl, &sl);
  uint32_t next = f->next, prev = f->prev;
  shd_free *n = next ? shd_free_at(z, next) : NULL, *p = prev ? shd_free_at(z, prev) : NULL;
  if (n) n->prev = prev;
  if (p) {
    p->next = next;
  } else if (!prev) {
    h->bins[fl][sl] = next;
    if (!next) {
      h->sl_bitmap[fl] &= ~(1u << sl);
      if (!h->sl_bitmap[fl]) h->fl_bitmap &= ~(1u << fl);
    }
  }
}

void freelist_reset(shd_shard *z) {
  shd_shard_hdr *h = z->h;
  h->fl_bitmap = 0;
  for (int i = 0; i < FL_COUNT; i++) {
    h->sl_bitmap[i] = 0;
    for (int j = 0; j < (int)SL_COUNT; j++) h->bins[i][j] = 0;
  }
}

/* One free block spanning the heap. */
void heap_format(shd_shard *z) {
  shd_shard_hdr *h = z->h;
  freelist_reset(z);
  shd_block *b = BLK(z, z->heap_start);
  b->prev_size = 0;
  b->size_state = (z->heap_end - z->heap_start) | BLK_FREE;
  freelist_insert(z, z->heap_start);
  h->free_bytes = z->heap_end - z->heap_start;
  h->lru_head = h->lru_tail = 0;
  h->items = 0;
}

/* The first block of a class at least as large as (fl, sl), or 0. The bitmaps are masked to the
   classes that exist: a bit set beyond them (by another process) indexes no class. */
static uint32_t find_from(shd_shard_hdr *h, uint32_t fl, uint32_t sl) {
  const uint32_t fl_all = (1u << FL_COUNT) - 1, sl_all = (1u << SL_COUNT) - 1;
  uint32_t sl_map = sl < SL_COUNT ? h->sl_bitmap[fl] & sl_all & (~0u << sl) : 0;
  if (!sl_map) {
    uint32_t fl_map = fl + 1 < 32 ? h->fl_bitmap & fl_all & (~0u << (fl + 1)) : 0;
    if (!fl_map) return 0;
    fl = (uint32_t)__builtin_ctz(fl_map);
    sl_map = h->sl_bitmap[fl] & sl_all;
    if (!sl_map) return 0;
  }
  return h->bins[fl][__builtin_ctz(sl_map)];
}

static uint32_t find_block(shd_shard *z, uint32_t size) {
  shd_shard_hdr *h = z->h;
  uint32_t fl, sl;
  /* Good fit: round up to the next class, whose every block is large enough. */
  uint32_t rounded = size;
  if (size >= SMALL_LIMIT) {
    uint32_t f = 31u - (uint32_t)__builtin_clz(size);
    uint64_t r = (uint64_t)size + (1u << (f - SL_LOG2)) - 1;
    rounded = r > 0x7ffffff8u ? 0x7ffffff8u : (uint32_t)r;
  }
  size_class(rounded, &fl, &sl);
  uint32_t off = find_from(h, fl, sl);
  shd_free *f = off ? shd_free_at(z, off) : NULL;
  if (f && blk_size(&f->b) >= size) return off;
  /* The request's own class may still hold a block that fits (the last block that fits a
     nearly full zone, for instance): look through it. */
  size_class(size, &fl, &sl);
  uint32_t steps = 0;
  for (off = h->bins[fl][sl]; off; off = f->next) {
    f = steps++ < z->max_blocks ? shd_free_at(z, off) : NULL;
    if (!f) return (uint32_t)shd_corrupt(z);
    if (blk_size(&f->b) >= size) return off;
  }
  return 0;
}

/*
 * Makes the free block at `off` (of `have` bytes, taken off its free list) an allocated block of
 * `size` at `at` (at == off, or further on inside it: the part before stays free, `pad` bytes),
 * splitting off the rest when it can stand as a block. Every header is written inside the free
 * block first, invisible to a heap walk; then one store commits: the allocated block's header when
 * at == off, else the free block's shrinking to the pad (the walk then finds pad, block, rest).
 */
static uint32_t take(shd_shard *z, uint32_t off, uint32_t have, uint32_t pad, uint32_t size, uint32_t state) {
  shd_shard_hdr *h = z->h;
  uint32_t at = off + pad, left = have - pad;
  uint32_t used = left - size >= SHD_MIN_BLOCK ? size : left;
  uint32_t end = at + used;
  if (used < left) {
    shd_block *r = BLK(z, end);
    r->prev_size = used;
    r->size_state = (left - used) | BLK_FREE;
    if (end + (left - used) < z->heap_end) BLK(z, end + (left - used))->prev_size = left - used;
    freelist_insert(z, end);
  } else if (end < z->heap_end) {
    BLK(z, end)->prev_size = used;
  }
  shd_block *b = BLK(z, at);
  if (pad) {
    b->prev_size = pad;
    b->size_state = used | state;
    STORE_ORDER();
    BLK(z, off)->size_state = pad | BLK_FREE;
    freelist_insert(z, off);
  } else {
    STORE_ORDER();
    b->size_state = used | state;
  }
  h->free_bytes -= used;
  CRASH_POINT(1);
  return at;
}

uint32_t blk_alloc(shd_shard *z, uint32_t size, uint32_t state) {
  if (size > 0x7ffffff0u) return 0;
  size = (size + SHD_ALIGN - 1) & ~(SHD_ALIGN - 1);
  if (size < SHD_MIN_BLOCK) size = SHD_MIN_BLOCK;
  uint32_t off = find_block(z, size);
  if (!off) return 0;
  uint32_t have = blk_size(BLK(z, off));
  freelist_remove(z, off);
  return take(z, off, have, 0, size, state);
}

/*
 * A block on whole pairs of cache lines of its own: it starts at a multiple of SHD_LINE_PAIR and
 * ends at one. For the items of numbers and booleans, which any process may write without the
 * lock (dict.c, write_unlocked): when two processes write items that were placed side by side,
 * each write takes the line away from the other process's cache, whose next read of its own item
 * waits for it (measured here: two processes writing their own keys, 0.9x one process when their
 * items were interleaved, 1.8x when each item had its pair of lines). Costs up to 112 bytes more
 * than blk_alloc, what a slab allocator such as nginx's spends on a small item too. When no free
 * block has room for the alignment, the plain block: the item goes in wherever it would have.
 */
uint32_t blk_alloc_paired(shd_shard *z, uint32_t size, uint32_t state) {
  uint32_t off = blk_alloc_aligned(z, size, SHD_LINE_PAIR, state);
  return off ? off : blk_alloc(z, size, state);
}

/* A block starting and ending at multiples of `align` (a power of two from 16 to SHD_PAGE), or 0
   when no free block has room for it with the alignment. */
uint32_t blk_alloc_aligned(shd_shard *z, uint32_t size, uint32_t align, uint32_t state) {
  if (size > 0x7ffffff0u - 2 * align) return 0;
  uint32_t want = (size + align - 1) & ~(align - 1);
  uint32_t off = find_block(z, want + align - SHD_ALIGN);
  if (!off) return 0;
  /* Offsets count from the zone's start, which mmap puts on a page: an aligned offset is an
     aligned address. */
  uint32_t pad = (align - (off & (align - 1))) & (align - 1);
  uint32_t have = blk_size(BLK(z, off));
  freelist_remove(z, off);
  return take(z, off, have, pad, want, state);
}

/*
 * Cuts the allocated block at `off` into blocks of `size` bytes each (its size a multiple of
 * `size`), all in the state it has. The headers inside it are written first, invisible to a heap
 * walk, which follows sizes; then one store of the first block's size commits the cut. A crash
 * before it leaves the one block, after it the blocks: either parses.
 */
void blk_cut(shd_shard *z, uint32_t off, uint32_t size) {
  shd_block *first = BLK(z, off);
  uint32_t total = blk_size(first), state = blk_state(first);
  if (size < SHD_MIN_BLOCK || total <= size || total % size) return;
  for (uint32_t at = off + size; at < off + total; at += size) {
    BLK(z, at)->prev_size = size;
    BLK(z, at)->size_state = size | state;
  }
  STORE_ORDER();
  first->size_state = size | state;
  CRASH_POINT(16);
  if (off + total < z->heap_end) BLK(z, off + total)->prev_size = size;
}

void blk_free(shd_shard *z, uint32_t off) {
  shd_shard_hdr *h = z->h;
  shd_block *b = BLK(z, off);
  uint32_t size = shd_block_size(z, off);
  if (!size) return;
  STORE_ORDER();
  b->size_state = size | BLK_FREE;
  h->free_bytes += size;
  CRASH_POINT(5);
  uint32_t next = off + size;
  if (next < z->heap_end && blk_state(BLK(z, next)) == BLK_FREE) {
    if (!shd_free_at(z, next)) return;
    freelist_remove(z, next);
    size += blk_size(BLK(z, next));
    STORE_ORDER();
    b->size_state = size | BLK_FREE;
    CRASH_POINT(6);
  }
  if (off > z->heap_start) {
    /* The block before must end where this one starts: a merge with one that does not would
       make a block reaching past this one's end. */
    uint32_t prev = off - b->prev_size;
    if (prev >= off || !shd_span(z, prev, sizeof(shd_block))) {
      shd_corrupt(z);
      return;
    }
    shd_block *p = BLK(z, prev);
    if (blk_state(p) == BLK_FREE) {
      if (!shd_free_at(z, prev) || blk_size(p) != off - prev) {
        shd_corrupt(z);
        return;
      }
      freelist_remove(z, prev);
      size += blk_size(p);
      STORE_ORDER();
      p->size_state = size | BLK_FREE;
      off = prev;
    }
  }
  if (off + size < z->heap_end) BLK(z, off + size)->prev_size = size;
  freelist_insert(z, off);
}
