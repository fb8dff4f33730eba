/* What recovery and the check share: bitmaps over a shard's heap, the heap walk, and the
   validation of an item or a node that a chain points to (recover.c). */
#ifndef SHD_WALK_H
#define SHD_WALK_H

#include "dict.h"

typedef struct {
  uint64_t *bits;
  uint32_t start;
} bitmap;

static inline int bm_init(bitmap *m, shd_shard_hdr *h) {
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

/* Notes every block start; 0 when the heap does not parse. */
int shd_walk(shd_shard *z, bitmap *starts);
int shd_in_heap(shd_shard *z, uint32_t off);
/* Why `off` is not a valid item of `bucket` (or a node), or NULL. */
const char *shd_item_problem(shd_shard *z, const bitmap *starts, const bitmap *marks, uint32_t off, uint32_t bucket);
const char *shd_node_problem(shd_shard *z, const bitmap *starts, const bitmap *marks, uint32_t off);

#endif
