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
#include "layout.h"

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
  if (head) FREE_AT(z, head)->prev = off;
  h->bins[fl][sl] = off;
  h->fl_bitmap |= 1u << fl;
  h->sl_bitmap[fl] |= 1u << sl;
}

static void freelist_remove(shd_shard *z, uint32_t off) {
  shd_shard_hdr *h = z->h;
  shd_free *f = FREE_AT(z, off);
  uint32_t fl, sl;
  size_class(blk_size(&f->b), &fl, &sl);
  if (f->next) FREE_AT(z, f->next)->prev = f->prev;
  if (f->prev) {
    FREE_AT(z, f->prev)->next = f->next;
  } else {
    h->bins[fl][sl] = f->next;
    if (!f->next) {
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
  shd_block *b = BLK(z, h->heap_start);
  b->prev_size = 0;
  b->size_state = (h->heap_end - h->heap_start) | BLK_FREE;
  freelist_insert(z, h->heap_start);
  h->free_bytes = h->heap_end - h->heap_start;
  h->lru_head = h->lru_tail = 0;
  h->items = 0;
}

/* The first block of a class at least as large as (fl, sl), or 0. */
static uint32_t find_from(shd_shard_hdr *h, uint32_t fl, uint32_t sl) {
  uint32_t sl_map = sl < SL_COUNT ? h->sl_bitmap[fl] & (~0u << sl) : 0;
  if (!sl_map) {
    uint32_t fl_map = fl + 1 < 32 ? h->fl_bitmap & (~0u << (fl + 1)) : 0;
    if (!fl_map) return 0;
    fl = (uint32_t)__builtin_ctz(fl_map);
    sl_map = h->sl_bitmap[fl];
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
  if (off && blk_size(&FREE_AT(z, off)->b) >= size) return off;
  /* The request's own class may still hold a block that fits (the last block that fits a
     nearly full zone, for instance): look through it. */
  size_class(size, &fl, &sl);
  for (off = h->bins[fl][sl]; off; off = FREE_AT(z, off)->next) {
    if (blk_size(&FREE_AT(z, off)->b) >= size) return off;
  }
  return 0;
}

uint32_t blk_alloc(shd_shard *z, uint32_t size, uint32_t state) {
  shd_shard_hdr *h = z->h;
  if (size > 0x7ffffff0u) return 0;
  size = (size + SHD_ALIGN - 1) & ~(SHD_ALIGN - 1);
  if (size < SHD_MIN_BLOCK) size = SHD_MIN_BLOCK;
  uint32_t off = find_block(z, size);
  if (!off) return 0;
  shd_block *b = BLK(z, off);
  uint32_t have = blk_size(b);
  freelist_remove(z, off);
  if (have - size >= SHD_MIN_BLOCK) {
    uint32_t rest = off + size;
    shd_block *r = BLK(z, rest);
    r->prev_size = size;
    r->size_state = (have - size) | BLK_FREE;
    if (rest + (have - size) < h->heap_end) BLK(z, rest + (have - size))->prev_size = have - size;
    freelist_insert(z, rest);
    STORE_ORDER();
    b->size_state = size | state;
    h->free_bytes -= size;
  } else {
    STORE_ORDER();
    b->size_state = have | state;
    h->free_bytes -= have;
  }
  CRASH_POINT(1);
  return off;
}

void blk_free(shd_shard *z, uint32_t off) {
  shd_shard_hdr *h = z->h;
  shd_block *b = BLK(z, off);
  uint32_t size = blk_size(b);
  STORE_ORDER();
  b->size_state = size | BLK_FREE;
  h->free_bytes += size;
  CRASH_POINT(5);
  uint32_t next = off + size;
  if (next < h->heap_end && blk_state(BLK(z, next)) == BLK_FREE) {
    freelist_remove(z, next);
    size += blk_size(BLK(z, next));
    STORE_ORDER();
    b->size_state = size | BLK_FREE;
    CRASH_POINT(6);
  }
  if (off > h->heap_start) {
    uint32_t prev = off - b->prev_size;
    shd_block *p = BLK(z, prev);
    if (blk_state(p) == BLK_FREE) {
      freelist_remove(z, prev);
      size += blk_size(p);
      STORE_ORDER();
      p->size_state = size | BLK_FREE;
      off = prev;
    }
  }
  if (off + size < h->heap_end) BLK(z, off + size)->prev_size = size;
  freelist_insert(z, off);
}
