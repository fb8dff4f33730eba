/*
 * The checks a locked operation makes before it follows an offset read from the zone.
 *
 * Every process of the host maps a zone read-write (a worker of config.user beside the root
 * privileged agent), so whatever a link or a length in the zone says is what some process
 * wrote there. An offset is followed only once it lies in this process's own copy of the
 * shard's heap bounds (shd_shard, computed at attach: zone.c), aligned, with the whole
 * structure it is used as inside the heap (an item's header, key and value; a node's header
 * and value; a free block's links and body). Walks stop after max_blocks steps, the most
 * blocks the heap can hold. Each check is a compare with a private value, on fields of the
 * block that the operation reads anyway.
 *
 * A check that fails marks the shard corrupt (z->corrupt) and the operation follows nothing
 * more from that link; shd_unlock then empties the shard as recovery does when a heap does not
 * parse (shard_reset, counted in `resets`) and the operation reports RC_CORRUPT.
 */
#ifndef SHD_BOUNDS_H
#define SHD_BOUNDS_H

#include "layout.h"

/* One load of a field of the zone, which the compiler may not repeat: what is checked is what is
   used (reads without the lock, and lengths about to be copied under it). */
#define LOAD(field) __atomic_load_n(&(field), __ATOMIC_RELAXED)

/* Marks the shard corrupt; 0, for the callers' returns. */
static inline int shd_corrupt(shd_shard *z) {
  z->corrupt = 1;
  return 0;
}

/* [off, off + span) lies inside the heap and off is a block boundary. */
static inline int shd_span(const shd_shard *z, uint32_t off, uint64_t span) {
  return off >= z->heap_start && (off & (SHD_ALIGN - 1)) == 0 && (uint64_t)off + span <= z->heap_end;
}

/* The size of the block at off, when it is a possible size there, else 0 (shard corrupt). */
static inline uint32_t shd_block_size(shd_shard *z, uint32_t off) {
  uint32_t size = blk_size(BLK(z, off));
  if (__builtin_expect(size >= SHD_MIN_BLOCK && (size & (SHD_ALIGN - 1)) == 0 && shd_span(z, off, size), 1))
    return size;
  return (uint32_t)shd_corrupt(z);
}

/* The item at off (a link of a hash chain or of the LRU list), whole inside the heap; else NULL
   (shard corrupt). */
static inline shd_item *shd_item_at(shd_shard *z, uint32_t off) {
  if (__builtin_expect(shd_span(z, off, ITEM_HEADER), 1)) {
    shd_item *it = ITEM(z, off);
    uint8_t type = it->type;
    uint64_t vlen = type == T_STRING || type == T_BINARY ? it->vlen : 0;
    if (__builtin_expect(blk_state(&it->b) == BLK_ITEM && type >= T_STRING && type <= T_LIST &&
                             shd_span(z, off, (uint64_t)ITEM_HEADER + it->klen + vlen),
                         1))
      return it;
  }
  shd_corrupt(z);
  return NULL;
}

/* The list node at off, whole inside the heap; else NULL (shard corrupt). */
static inline shd_node *shd_node_at(shd_shard *z, uint32_t off) {
  if (__builtin_expect(shd_span(z, off, (uint64_t)NODE_HEADER + 8), 1)) {
    shd_node *n = NODE(z, off);
    if (__builtin_expect(blk_state(&n->b) == BLK_NODE &&
                             (n->type == T_NUMBER ||
                              (n->type == T_STRING && shd_span(z, off, (uint64_t)NODE_HEADER + n->vlen))),
                         1))
      return n;
  }
  shd_corrupt(z);
  return NULL;
}

/*
 * The bytes a caller is about to copy out of an item or a node, their lengths loaded once and
 * checked just before the copy: another process may rewrite a length at any instant, even while
 * this one holds the lock, and a copy of what it wrote must not leave the heap. NULL (shard
 * corrupt) when they would.
 */
static inline const uint8_t *shd_bytes_at(shd_shard *z, const void *at, uint32_t header, uint32_t skip, uint32_t len) {
  if (__builtin_expect(shd_span(z, OFF(z, at), (uint64_t)header + skip + len), 1)) return (const uint8_t *)at + header + skip;
  shd_corrupt(z);
  return NULL;
}
/* An item's key (*klen), and its value (*vlen: a string's or binary's). */
static inline const uint8_t *shd_key_of(shd_shard *z, shd_item *it, uint16_t *klen) {
  *klen = LOAD(it->klen);
  return shd_bytes_at(z, it, ITEM_HEADER, 0, *klen);
}
static inline const uint8_t *shd_value_of(shd_shard *z, shd_item *it, uint32_t *vlen) {
  *vlen = LOAD(it->vlen);
  return shd_bytes_at(z, it, ITEM_HEADER, LOAD(it->klen), *vlen);
}
/* A string node's value (*vlen). */
static inline const uint8_t *shd_node_value_of(shd_shard *z, shd_node *n, uint32_t *vlen) {
  *vlen = LOAD(n->vlen);
  return shd_bytes_at(z, n, NODE_HEADER, 0, *vlen);
}

/* The free block at off (a free list's link), its body inside the heap; else NULL (shard
   corrupt). */
static inline shd_free *shd_free_at(shd_shard *z, uint32_t off) {
  if (__builtin_expect(shd_span(z, off, sizeof(shd_free)), 1)) {
    shd_free *f = (shd_free *)AT(z, off);
    if (__builtin_expect(blk_state(&f->b) == BLK_FREE && shd_block_size(z, off), 1)) return f;
  }
  shd_corrupt(z);
  return NULL;
}

#endif
