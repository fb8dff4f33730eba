/* What recovery and the check share: bitmaps over a shard's heap, the heap walk, and the
   validation of an item or a node that a chain points to (recover.c). */
#ifndef SHD_WALK_H
#define SHD_WALK_H

#include "bounds.h"
#include "dict.h"

typedef struct {
  uint64_t *bits;
  uint32_t start;
} bitmap;

static inline int bm_init(bitmap *m, const shd_shard *z) {
  size_t units = (z->heap_end - z->heap_start) / SHD_ALIGN;
  m->start = z->heap_start;
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

/* The block after the one at off, in a heap that parsed (shd_walk); the heap's end if the block's
   size was rewritten since, so that a walk by sizes never leaves the heap. */
static inline uint32_t shd_next_block(const shd_shard *z, uint32_t off) {
  uint32_t size = blk_size(BLK(z, off));
  return size >= SHD_MIN_BLOCK && size <= z->heap_end - off ? off + size : z->heap_end;
}

/* Notes every block start; 0 when the heap does not parse. */
int shd_walk(shd_shard *z, bitmap *starts);
int shd_in_heap(shd_shard *z, uint32_t off);
/* Whether a block the walk found starts at off, in `state`: a listed offset checked before use. */
static inline int shd_block_at(shd_shard *z, const bitmap *starts, uint32_t off, uint32_t state) {
  return shd_in_heap(z, off) && bm_get(starts, off) && blk_state(BLK(z, off)) == state;
}
/* Why `off` is not a valid item of `bucket` (or a node), or NULL. */
const char *shd_item_problem(shd_shard *z, const bitmap *starts, const bitmap *marks, uint32_t off, uint32_t bucket);
const char *shd_node_problem(shd_shard *z, const bitmap *starts, const bitmap *marks, uint32_t off);

#endif
