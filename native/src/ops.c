/* The functions of a zone object: each reads its arguments, runs one operation of dict.h
   and returns its outcome (secondary results go to the scratch Float64Array). */
#include <stdlib.h>

#include "napi.h"

/* The error a read throws for an outcome that means the zone itself failed, or NULL. */
static const char *read_failure(int r) {
  if (r >> 1 == RC_CORRUPT) return "a shard of the zone was found overwritten (a link out of its heap) and was emptied";
  if (r >> 1 == RC_OOM) return "the zone could not be read";
  return NULL;
}

static napi_value get_common(napi_env env, napi_callback_info info, int stale) {
  call c;
  shd_key k;
  shd_got g;
  if (!js_begin(env, info, &c) || !js_read_key(env, c.hd, c.argv[0], &k)) return NULL;
  int r = shd_get(&c.hd->z, &k, stale, &g, &c.hd->e->out);
  double *res = c.hd->e->res;
  res[0] = r;
  res[1] = g.uflags;
  res[2] = g.stale;
  if (read_failure(r)) return js_fail(env, read_failure(r));
  return js_make_value(env, c.hd->e, &g);
}

napi_value op_get(napi_env env, napi_callback_info info) { return get_common(env, info, 0); }
napi_value op_get_stale(napi_env env, napi_callback_info info) { return get_common(env, info, 1); }

/* store(key, value, ttlMs, flags, op, expect) -> outcome (expect: OP_IF_NUMBER's number) */
napi_value op_store(napi_env env, napi_callback_info info) {
  call c;
  shd_key k;
  shd_value v;
  if (!js_begin(env, info, &c) || !js_read_key(env, c.hd, c.argv[0], &k) || !js_read_value(env, c.hd->e, c.argv[1], &v)) return NULL;
  uint32_t flags = 0;
  int32_t op = 0;
  napi_get_value_uint32(env, c.argv[3], &flags);
  napi_get_value_int32(env, c.argv[4], &op);
  double expect = 0;
  if ((op & OP_IF_NUMBER) && napi_get_value_double(env, c.argv[5], &expect) != napi_ok)
    return js_fail(env, "store: a number to compare expected");
  return js_int(env, shd_store(&c.hd->z, &k, &v, js_ms(env, c.argv[2]), flags, op, expect));
}

/* incr(key, delta, init | undefined, initTtlMs) -> outcome; res[0] = the new value */
napi_value op_incr(napi_env env, napi_callback_info info) {
  call c;
  shd_key k;
  if (!js_begin(env, info, &c) || !js_read_key(env, c.hd, c.argv[0], &k)) return NULL;
  double delta = 0, init = 0, result = 0;
  napi_get_value_double(env, c.argv[1], &delta);
  int has_init = napi_get_value_double(env, c.argv[2], &init) == napi_ok;
  int r = shd_incr(&c.hd->z, &k, delta, has_init, init, js_ms(env, c.argv[3]), &result);
  c.hd->e->res[0] = result;
  return js_int(env, r);
}

/* push(key, value, left) -> outcome; res[0] = the new length */
napi_value op_push(napi_env env, napi_callback_info info) {
  call c;
  shd_key k;
  shd_value v;
  if (!js_begin(env, info, &c) || !js_read_key(env, c.hd, c.argv[0], &k) || !js_read_value(env, c.hd->e, c.argv[1], &v)) return NULL;
  bool left = false;
  napi_get_value_bool(env, c.argv[2], &left);
  uint32_t len = 0;
  int r = shd_push(&c.hd->z, &k, &v, left, &len);
  c.hd->e->res[0] = len;
  return js_int(env, r);
}

/* pop(key, left) -> value | undefined; res[0] = outcome */
napi_value op_pop(napi_env env, napi_callback_info info) {
  call c;
  shd_key k;
  shd_got g;
  if (!js_begin(env, info, &c) || !js_read_key(env, c.hd, c.argv[0], &k)) return NULL;
  bool left = false;
  napi_get_value_bool(env, c.argv[1], &left);
  int r = shd_pop(&c.hd->z, &k, left, &g, &c.hd->e->out);
  c.hd->e->res[0] = r;
  if (read_failure(r)) return js_fail(env, read_failure(r));
  return js_make_value(env, c.hd->e, &g);
}

napi_value op_llen(napi_env env, napi_callback_info info) {
  call c;
  shd_key k;
  if (!js_begin(env, info, &c) || !js_read_key(env, c.hd, c.argv[0], &k)) return NULL;
  uint32_t len = 0;
  int r = shd_llen(&c.hd->z, &k, &len);
  c.hd->e->res[0] = len;
  return js_int(env, r);
}

napi_value op_ttl(napi_env env, napi_callback_info info) {
  call c;
  shd_key k;
  if (!js_begin(env, info, &c) || !js_read_key(env, c.hd, c.argv[0], &k)) return NULL;
  double ms = 0;
  int r = shd_expiry(&c.hd->z, &k, 0, 0, &ms);
  c.hd->e->res[0] = ms;
  return js_int(env, r);
}

napi_value op_expire(napi_env env, napi_callback_info info) {
  call c;
  shd_key k;
  if (!js_begin(env, info, &c) || !js_read_key(env, c.hd, c.argv[0], &k)) return NULL;
  double unused = 0;
  return js_int(env, shd_expiry(&c.hd->z, &k, 1, js_ms(env, c.argv[1]), &unused));
}

napi_value op_flush_all(napi_env env, napi_callback_info info) {
  call c;
  if (!js_begin(env, info, &c)) return NULL;
  return js_int(env, shd_flush_all(&c.hd->z));
}

napi_value op_flush_expired(napi_env env, napi_callback_info info) {
  call c;
  if (!js_begin(env, info, &c)) return NULL;
  uint32_t max = 0, freed = 0;
  napi_get_value_uint32(env, c.argv[0], &max);
  int r = shd_flush_expired(&c.hd->z, max, &freed);
  c.hd->e->res[0] = freed;
  return js_int(env, r);
}

napi_value op_get_keys(napi_env env, napi_callback_info info) {
  call c;
  if (!js_begin(env, info, &c)) return NULL;
  uint32_t max = 0, count = 0;
  napi_get_value_uint32(env, c.argv[0], &max);
  shd_buf *out = &c.hd->e->out;
  int r = shd_get_keys(&c.hd->z, max, out, &count);
  if (r != RC_OK) return js_fail(env, read_failure(r) ? read_failure(r) : "the zone's keys could not be read");
  napi_value list;
  CHECK(napi_create_array_with_length(env, count, &list));
  size_t at = 0;
  for (uint32_t i = 0; i < count; i++) {
    size_t len = (size_t)out->p[at] | ((size_t)out->p[at + 1] << 8);
    napi_value key;
    CHECK(napi_create_string_utf8(env, (const char *)out->p + at + 2, len, &key));
    CHECK(napi_set_element(env, list, i, key));
    at += 2 + len;
  }
  return list;
}

/* stats() and peekStats() -> outcome; res[0..5] = capacity, free bytes, items, recoveries,
   resets, and of the free bytes those ended processes' reserves hold (peek only: under the locks
   they are given back first): under each shard's lock, or read without any lock (zonewide.c) */
static napi_value stats(napi_env env, napi_callback_info info, int locked) {
  call c;
  if (!js_begin(env, info, &c)) return NULL;
  shd_stats s;
  int r = RC_OK;
  if (locked) r = shd_stats_of(&c.hd->z, &s);
  else shd_stats_peek(&c.hd->z, &s);
  double *res = c.hd->e->res;
  res[0] = (double)s.capacity;
  res[1] = (double)s.free_bytes;
  res[2] = s.items;
  res[3] = (double)s.recoveries;
  res[4] = (double)s.resets;
  res[5] = (double)s.ended_reserves;
  return js_int(env, r);
}

napi_value op_stats(napi_env env, napi_callback_info info) { return stats(env, info, 1); }

napi_value op_peek_stats(napi_env env, napi_callback_info info) { return stats(env, info, 0); }

typedef struct {
  napi_env env;
  napi_value list;
  uint32_t n;
} problems;

static void add_problem(void *ctx, const char *text) {
  problems *p = ctx;
  napi_value s;
  napi_create_string_utf8(p->env, text, NAPI_AUTO_LENGTH, &s);
  napi_set_element(p->env, p->list, p->n++, s);
}

/* check() -> string[]: every inconsistency found, none in a healthy zone */
napi_value op_check(napi_env env, napi_callback_info info) {
  call c;
  if (!js_begin(env, info, &c)) return NULL;
  problems p = {env, NULL, 0};
  CHECK(napi_create_array(env, &p.list));
  for (uint32_t i = 0; i < c.hd->z.nshards; i++) {
    shd_shard *shard = &c.hd->z.shards[i];
    shd_lock(shard);
    shard_check(shard, add_problem, &p);
    shd_unlock(shard);
  }
  return p.list;
}

napi_value op_close(napi_env env, napi_callback_info info) {
  size_t argc = 0;
  void *data = NULL;
  napi_get_cb_info(env, info, &argc, NULL, NULL, &data);
  shd_detach(&((shd_handle *)data)->z); /* the handle stays: its functions may still be called */
  return NULL;
}
