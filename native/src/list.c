/* Lists: lpush/rpush, lpop/rpop, llen. A list's authoritative state is its first node and
   the nodes' next links: each push or pop is committed by one store to one of them. */
#include <string.h>

#include "shard.h"

static uint32_t node_new(shd_shard *z, const shd_value *v) {
  uint32_t body = v->type == T_NUMBER ? 8 : (v->len > 8 ? v->len : 8);
  if ((uint64_t)NODE_HEADER + body > z->heap_end - z->heap_start) return 0;
  uint32_t off = blk_alloc(z, NODE_HEADER + body, BLK_NODE);
  if (!off) return 0;
  shd_node *n = NODE(z, off);
  n->next = n->prev = 0;
  n->type = (uint8_t)v->type;
  n->ascii = v->ascii;
  n->pad = 0;
  if (v->type == T_NUMBER) {
    n->vlen = 0;
    n->v.num = v->num;
  } else {
    n->vlen = v->len;
    memcpy(n->v.data, v->bytes, v->len);
  }
  return off;
}

static int push_locked(shd_shard *z, const shd_key *k, const shd_value *v, int left, uint32_t *len, clockc *c) {
  uint32_t off;
  uint32_t *slot = shd_lookup(z, k, &off);
  if (off && expired(ITEM(z, off), c)) {
    shd_item_remove(z, slot, off);
    off = 0;
  }
  if (off && ITEM(z, off)->type != T_LIST) {
    shd_lru_touch(z, ITEM(z, off));
    return RC_NOT_LIST << 1;
  }
  /* Pushing never evicts (as OpenResty); what ended processes' lanes hold it takes back (lanes.c). */
  uint32_t node = node_new(z, v);
  if (!node && shd_lanes_reclaim_for_room(z, c)) node = node_new(z, v);
  if (!node) return RC_NO_MEMORY << 1;
  if (!off) {
    off = blk_alloc(z, ITEM_HEADER + k->len, BLK_ITEM);
    if (!off && shd_lanes_reclaim_for_room(z, c)) off = blk_alloc(z, ITEM_HEADER + k->len, BLK_ITEM);
    if (!off) {
      blk_free(z, node);
      return RC_NO_MEMORY << 1;
    }
    shd_value lv = {T_LIST, NULL, 0, 0, 0};
    shd_item_fill(z, off, k, &lv, 0, 0, c);
    shd_item *it = ITEM(z, off);
    it->v.lhead = node;
    it->ltail = node;
    it->vlen = 1;
    uint32_t found;
    if (!shd_link_new(z, k, off, &found)) { /* the commit, unless an add without the lock made the key */
      blk_free(z, off);
      blk_free(z, node);
      return found ? RC_NOT_LIST << 1 : RC_OK;
    }
    z->h->items++;
    shd_lru_push(z, it);
    *len = 1;
    return RC_OK;
  }
  shd_item *it = ITEM(z, off);
  shd_node *n = NODE(z, node);
  /* The end the node joins, checked before the commit (bounds.h: a bad one empties the shard). */
  uint32_t end = left ? it->v.lhead : it->ltail;
  shd_node *at_end = shd_node_at(z, end);
  if (!at_end) return RC_OK;
  if (left) {
    n->next = end;
    STORE_ORDER();
    it->v.lhead = node; /* the commit */
    CRASH_POINT(8);
    at_end->prev = node;
  } else {
    n->prev = end;
    STORE_ORDER();
    at_end->next = node; /* the commit */
    CRASH_POINT(8);
    it->ltail = node;
  }
  it->vlen++;
  shd_lru_touch(z, it);
  *len = it->vlen;
  return RC_OK;
}

int shd_push(shd_zone *zone, const shd_key *k, const shd_value *v, int left, uint32_t *len) {
  shd_shard *z = shard_of(zone, k->hash);
  clockc c = {0};
  shd_lock(z);
  shd_expire_some(z, 1, &c);
  int r = push_locked(z, k, v, left, len, &c);
  return shd_unlock_with(z, r);
}

static int pop_locked(shd_shard *z, const shd_key *k, int left, shd_got *g, shd_buf *buf, clockc *c) {
  uint32_t off;
  uint32_t *slot = shd_lookup(z, k, &off);
  if (!off) return RC_NOT_FOUND << 1;
  shd_item *it = ITEM(z, off);
  shd_lru_touch(z, it);
  if (expired(it, c)) return RC_NOT_FOUND << 1;
  if (it->type != T_LIST) return RC_NOT_LIST << 1;
  uint32_t noff = left ? it->v.lhead : it->ltail;
  shd_node *n = shd_node_at(z, noff);
  if (!n) return RC_NOT_FOUND << 1; /* the shard is emptied as the lock is released */
  g->type = n->type;
  g->ascii = n->ascii;
  g->len = 0;
  g->num = n->v.num;
  if (g->type == T_STRING) {
    const uint8_t *value = shd_node_value_of(z, n, &g->len);
    if (!value) return RC_NOT_FOUND << 1;
    if (!shd_copy_out(buf, value, g->len)) return RC_OOM << 1;
  }
  if (it->vlen == 1) {
    shd_item_remove(z, slot, off);
    return RC_OK;
  }
  /* The node that becomes the new end, checked before the commit. */
  uint32_t end = left ? n->next : n->prev;
  shd_node *at_end = shd_node_at(z, end);
  if (!at_end) return RC_NOT_FOUND << 1;
  if (left) {
    STORE_ORDER();
    it->v.lhead = end; /* the commit */
    CRASH_POINT(9);
    at_end->prev = 0;
  } else {
    STORE_ORDER();
    at_end->next = 0; /* the commit */
    CRASH_POINT(9);
    it->ltail = end;
  }
  it->vlen--;
  blk_free(z, noff);
  return RC_OK;
}

int shd_pop(shd_zone *zone, const shd_key *k, int left, shd_got *g, shd_buf *buf) {
  shd_shard *z = shard_of(zone, k->hash);
  clockc c = {0};
  g->type = 0;
  shd_lock(z);
  shd_expire_some(z, 1, &c);
  int r = shd_unlock_with(z, pop_locked(z, k, left, g, buf, &c));
  if (r != RC_OK) g->type = 0;
  return r;
}

int shd_llen(shd_zone *zone, const shd_key *k, uint32_t *len) {
  shd_shard *z = shard_of(zone, k->hash);
  clockc c = {0};
  int r = RC_OK;
  *len = 0;
  shd_lock(z);
  shd_expire_some(z, 1, &c);
  uint32_t off = shd_find_live(z, k, &c);
  if (off) {
    shd_item *it = ITEM(z, off);
    if (it->type != T_LIST) r = RC_NOT_LIST << 1;
    else *len = it->vlen;
  }
  return shd_unlock_with(z, r);
}
