/*
 * The Node-API surface: module functions create/attach/setScratch/crashAt, and per zone an
 * object of functions whose callback data is the zone (no handle argument to unwrap).
 * Secondary results (flags, staleness, a new length, a reason code) go into a Float64Array
 * the facade registered once with setScratch, so the hot calls allocate nothing: keys and
 * string values are read into buffers of this Node environment, reused by every call.
 */
#include <node_api.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dict.h"

#define KEY_CAP (3u * SHD_KEY_MAX + 8u) /* a key of 65,535 UTF-16 units, 3 bytes each at most */
#define VAL_CAP (64u * 1024u)

typedef struct {
  uint8_t *key;
  uint8_t *val;
  size_t val_cap;
  shd_buf out;
  double *res; /* the scratch Float64Array's memory */
  napi_ref res_ref;
} shd_env;

typedef struct {
  shd_zone z;
  shd_env *e;
} shd_handle;

#define CHECK(call)                                              \
  do {                                                           \
    if ((call) != napi_ok) return throw_last(env, #call);        \
  } while (0)

static napi_value throw_last(napi_env env, const char *what) {
  const napi_extended_error_info *info = NULL;
  napi_get_last_error_info(env, &info);
  bool pending = false;
  napi_is_exception_pending(env, &pending);
  if (!pending) {
    char text[256];
    snprintf(text, sizeof text, "shdict native: %s failed: %s", what,
             info && info->error_message ? info->error_message : "unknown error");
    napi_throw_error(env, "ERR_TSRESTY_SHDICT", text);
  }
  return NULL;
}

static napi_value fail(napi_env env, const char *message) {
  napi_throw_error(env, "ERR_TSRESTY_SHDICT", message);
  return NULL;
}

static shd_env *env_data(napi_env env) {
  shd_env *e = NULL;
  napi_get_instance_data(env, (void **)&e);
  return e;
}

/* ---------------------------------------------------------------- arguments */

typedef struct {
  shd_handle *hd;
  napi_value argv[5];
  size_t argc;
} call;

static int begin(napi_env env, napi_callback_info info, call *c) {
  c->argc = 5;
  void *data = NULL;
  if (napi_get_cb_info(env, info, &c->argc, c->argv, NULL, &data) != napi_ok) return 0;
  c->hd = data;
  if (!c->hd->z.base) {
    fail(env, "the zone is closed");
    return 0;
  }
  return 1;
}

static int read_key(napi_env env, shd_handle *hd, napi_value v, shd_key *k) {
  size_t len = 0;
  if (napi_get_value_string_utf8(env, v, (char *)hd->e->key, KEY_CAP, &len) != napi_ok) {
    throw_last(env, "reading the key");
    return 0;
  }
  if (len > SHD_KEY_MAX || len == 0) {
    fail(env, "key of 1 to 65535 bytes expected");
    return 0;
  }
  k->bytes = hd->e->key;
  k->len = (uint32_t)len;
  k->hash = shd_hash(hd->z.h->seed, k->bytes, len);
  return 1;
}

static int is_ascii(const uint8_t *p, size_t n) {
  uint64_t acc = 0;
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    uint64_t w;
    memcpy(&w, p + i, 8);
    acc |= w;
  }
  for (; i < n; i++) acc |= p[i];
  return (acc & 0x8080808080808080ull) == 0;
}

/* A string, number, boolean or Uint8Array (the facade checked the type); null/undefined = nil. */
static int read_value(napi_env env, shd_env *e, napi_value v, shd_value *out) {
  napi_valuetype t;
  if (napi_typeof(env, v, &t) != napi_ok) return throw_last(env, "typeof"), 0;
  memset(out, 0, sizeof *out);
  switch (t) {
    case napi_undefined:
    case napi_null:
      out->type = 0;
      return 1;
    case napi_number:
      out->type = T_NUMBER;
      return napi_get_value_double(env, v, &out->num) == napi_ok;
    case napi_boolean: {
      bool b;
      if (napi_get_value_bool(env, v, &b) != napi_ok) return 0;
      out->type = T_BOOLEAN;
      out->num = b ? 1 : 0;
      return 1;
    }
    case napi_string: {
      size_t len = 0;
      if (napi_get_value_string_utf8(env, v, (char *)e->val, e->val_cap, &len) != napi_ok) return throw_last(env, "reading the value"), 0;
      /* Written up to the last 4 bytes: maybe cut short. Measure, grow, read again. */
      if (len + 4 >= e->val_cap) {
        if (napi_get_value_string_utf8(env, v, NULL, 0, &len) != napi_ok) return throw_last(env, "measuring the value"), 0;
        if (len > 0xffffffffu - 8) return fail(env, "string value too large"), 0;
        uint8_t *p = realloc(e->val, len + 8);
        if (!p) return fail(env, "out of memory reading the value"), 0;
        e->val = p;
        e->val_cap = len + 8;
        if (napi_get_value_string_utf8(env, v, (char *)e->val, e->val_cap, &len) != napi_ok) return throw_last(env, "reading the value"), 0;
      }
      out->type = T_STRING;
      out->bytes = e->val;
      out->len = (uint32_t)len;
      out->ascii = (uint8_t)is_ascii(e->val, len);
      return 1;
    }
    case napi_object: {
      napi_typedarray_type tt;
      size_t len = 0;
      void *data = NULL;
      if (napi_get_typedarray_info(env, v, &tt, &len, &data, NULL, NULL) != napi_ok || tt != napi_uint8_array) {
        return fail(env, "value must be a string, number, boolean or Uint8Array"), 0;
      }
      if (len > 0xffffffffu - 8) return fail(env, "binary value too large"), 0;
      out->type = T_BINARY;
      out->bytes = data;
      out->len = (uint32_t)len;
      return 1;
    }
    default:
      return fail(env, "value must be a string, number, boolean or Uint8Array"), 0;
  }
}

static napi_value make_value(napi_env env, shd_env *e, const shd_got *g) {
  napi_value v = NULL;
  switch (g->type) {
    case T_STRING:
      if (g->ascii) napi_create_string_latin1(env, (const char *)e->out.p, g->len, &v);
      else napi_create_string_utf8(env, (const char *)e->out.p, g->len, &v);
      return v;
    case T_NUMBER:
      napi_create_double(env, g->num, &v);
      return v;
    case T_BOOLEAN:
      napi_get_boolean(env, g->num != 0, &v);
      return v;
    case T_BINARY: {
      void *data = NULL;
      napi_value ab;
      if (napi_create_arraybuffer(env, g->len, &data, &ab) != napi_ok) return NULL;
      if (g->len) memcpy(data, e->out.p, g->len);
      napi_create_typedarray(env, napi_uint8_array, g->len, ab, 0, &v);
      return v;
    }
    default:
      napi_get_undefined(env, &v);
      return v;
  }
}

static napi_value int_value(napi_env env, int32_t n) {
  napi_value v;
  napi_create_int32(env, n, &v);
  return v;
}

static uint64_t ms_arg(napi_env env, napi_value v) {
  double d = 0;
  napi_get_value_double(env, v, &d);
  return d > 0 ? (uint64_t)d : 0;
}

/* ---------------------------------------------------------------- operations */

static napi_value get_common(napi_env env, napi_callback_info info, int stale) {
  call c;
  shd_key k;
  shd_got g;
  if (!begin(env, info, &c) || !read_key(env, c.hd, c.argv[0], &k)) return NULL;
  int r = shd_get(&c.hd->z, &k, stale, &g, &c.hd->e->out);
  double *res = c.hd->e->res;
  res[0] = r;
  res[1] = g.uflags;
  res[2] = g.stale;
  if (r >> 1 == RC_LOCK_FAILED || r >> 1 == RC_OOM) return fail(env, "the zone could not be read");
  return make_value(env, c.hd->e, &g);
}

static napi_value op_get(napi_env env, napi_callback_info info) { return get_common(env, info, 0); }
static napi_value op_get_stale(napi_env env, napi_callback_info info) { return get_common(env, info, 1); }

/* store(key, value, ttlMs, flags, op) -> outcome */
static napi_value op_store(napi_env env, napi_callback_info info) {
  call c;
  shd_key k;
  shd_value v;
  if (!begin(env, info, &c) || !read_key(env, c.hd, c.argv[0], &k) || !read_value(env, c.hd->e, c.argv[1], &v)) return NULL;
  uint32_t flags = 0;
  int32_t op = 0;
  napi_get_value_uint32(env, c.argv[3], &flags);
  napi_get_value_int32(env, c.argv[4], &op);
  return int_value(env, shd_store(&c.hd->z, &k, &v, ms_arg(env, c.argv[2]), flags, op));
}

/* incr(key, delta, init | undefined, initTtlMs) -> outcome; res[0] = the new value */
static napi_value op_incr(napi_env env, napi_callback_info info) {
  call c;
  shd_key k;
  if (!begin(env, info, &c) || !read_key(env, c.hd, c.argv[0], &k)) return NULL;
  double delta = 0, init = 0, result = 0;
  napi_get_value_double(env, c.argv[1], &delta);
  int has_init = napi_get_value_double(env, c.argv[2], &init) == napi_ok;
  int r = shd_incr(&c.hd->z, &k, delta, has_init, init, ms_arg(env, c.argv[3]), &result);
  c.hd->e->res[0] = result;
  return int_value(env, r);
}

/* push(key, value, left) -> outcome; res[0] = the new length */
static napi_value op_push(napi_env env, napi_callback_info info) {
  call c;
  shd_key k;
  shd_value v;
  if (!begin(env, info, &c) || !read_key(env, c.hd, c.argv[0], &k) || !read_value(env, c.hd->e, c.argv[1], &v)) return NULL;
  bool left = false;
  napi_get_value_bool(env, c.argv[2], &left);
  uint32_t len = 0;
  int r = shd_push(&c.hd->z, &k, &v, left, &len);
  c.hd->e->res[0] = len;
  return int_value(env, r);
}

/* pop(key, left) -> value | undefined; res[0] = outcome */
static napi_value op_pop(napi_env env, napi_callback_info info) {
  call c;
  shd_key k;
  shd_got g;
  if (!begin(env, info, &c) || !read_key(env, c.hd, c.argv[0], &k)) return NULL;
  bool left = false;
  napi_get_value_bool(env, c.argv[1], &left);
  int r = shd_pop(&c.hd->z, &k, left, &g, &c.hd->e->out);
  c.hd->e->res[0] = r;
  if (r >> 1 == RC_LOCK_FAILED || r >> 1 == RC_OOM) return fail(env, "the zone could not be read");
  return make_value(env, c.hd->e, &g);
}

static napi_value op_llen(napi_env env, napi_callback_info info) {
  call c;
  shd_key k;
  if (!begin(env, info, &c) || !read_key(env, c.hd, c.argv[0], &k)) return NULL;
  uint32_t len = 0;
  int r = shd_llen(&c.hd->z, &k, &len);
  c.hd->e->res[0] = len;
  return int_value(env, r);
}

static napi_value op_ttl(napi_env env, napi_callback_info info) {
  call c;
  shd_key k;
  if (!begin(env, info, &c) || !read_key(env, c.hd, c.argv[0], &k)) return NULL;
  double ms = 0;
  int r = shd_expiry(&c.hd->z, &k, 0, 0, &ms);
  c.hd->e->res[0] = ms;
  return int_value(env, r);
}

static napi_value op_expire(napi_env env, napi_callback_info info) {
  call c;
  shd_key k;
  if (!begin(env, info, &c) || !read_key(env, c.hd, c.argv[0], &k)) return NULL;
  double unused = 0;
  return int_value(env, shd_expiry(&c.hd->z, &k, 1, ms_arg(env, c.argv[1]), &unused));
}

static napi_value op_flush_all(napi_env env, napi_callback_info info) {
  call c;
  if (!begin(env, info, &c)) return NULL;
  return int_value(env, shd_flush_all(&c.hd->z));
}

static napi_value op_flush_expired(napi_env env, napi_callback_info info) {
  call c;
  if (!begin(env, info, &c)) return NULL;
  uint32_t max = 0, freed = 0;
  napi_get_value_uint32(env, c.argv[0], &max);
  int r = shd_flush_expired(&c.hd->z, max, &freed);
  c.hd->e->res[0] = freed;
  return int_value(env, r);
}

static napi_value op_get_keys(napi_env env, napi_callback_info info) {
  call c;
  if (!begin(env, info, &c)) return NULL;
  uint32_t max = 0, count = 0;
  napi_get_value_uint32(env, c.argv[0], &max);
  shd_buf *out = &c.hd->e->out;
  if (shd_get_keys(&c.hd->z, max, out, &count) != RC_OK) return fail(env, "the zone's keys could not be read");
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

/* stats() -> outcome; res[0..4] = capacity, free bytes, items, recoveries, resets */
static napi_value op_stats(napi_env env, napi_callback_info info) {
  call c;
  if (!begin(env, info, &c)) return NULL;
  shd_stats s;
  int r = shd_stats_of(&c.hd->z, &s);
  double *res = c.hd->e->res;
  res[0] = (double)s.capacity;
  res[1] = (double)s.free_bytes;
  res[2] = s.items;
  res[3] = (double)s.recoveries;
  res[4] = (double)s.resets;
  return int_value(env, r);
}

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
static napi_value op_check(napi_env env, napi_callback_info info) {
  call c;
  if (!begin(env, info, &c)) return NULL;
  problems p = {env, NULL, 0};
  CHECK(napi_create_array(env, &p.list));
  for (uint32_t i = 0; i < c.hd->z.nshards; i++) {
    shd_shard *shard = &c.hd->z.shards[i];
    if (shd_lock(shard) != 0) return fail(env, "the zone's lock is unusable");
    shard_check(shard, add_problem, &p);
    shd_unlock(shard);
  }
  return p.list;
}

static napi_value op_close(napi_env env, napi_callback_info info) {
  size_t argc = 0;
  void *data = NULL;
  napi_get_cb_info(env, info, &argc, NULL, NULL, &data);
  shd_detach(&((shd_handle *)data)->z); /* the handle stays: its functions may still be called */
  return NULL;
}

/* ---------------------------------------------------------------- module */

static int string_arg(napi_env env, napi_value v, char *buf, size_t cap) {
  size_t len = 0;
  return napi_get_value_string_utf8(env, v, buf, cap, &len) == napi_ok && len < cap - 1;
}

/* create(name, size) -> fd */
static napi_value mod_create(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  char name[SHD_NAME_MAX + 2];
  double size = 0;
  if (!string_arg(env, argv[0], name, sizeof name)) return fail(env, "zone name of 1 to 63 bytes expected");
  CHECK(napi_get_value_double(env, argv[1], &size));
  int fd = -1;
  const char *err = NULL;
  if (shd_create(name, (uint64_t)size, &fd, &err) != 0) return fail(env, err);
  return int_value(env, fd);
}

/* attach(fd, name, size) -> zone object */
static napi_value mod_attach(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  int32_t fd = -1;
  double size = 0;
  char name[SHD_NAME_MAX + 2];
  CHECK(napi_get_value_int32(env, argv[0], &fd));
  if (!string_arg(env, argv[1], name, sizeof name)) return fail(env, "zone name of 1 to 63 bytes expected");
  CHECK(napi_get_value_double(env, argv[2], &size));
  shd_env *e = env_data(env);
  if (!e || !e->res) return fail(env, "setScratch() must be called before attach()");
  shd_handle *hd = calloc(1, sizeof *hd);
  if (!hd) return fail(env, "out of memory");
  const char *err = NULL;
  if (shd_attach(fd, name, (uint64_t)size, &hd->z, &err) != 0) {
    free(hd);
    return fail(env, err);
  }
  hd->e = e;
  napi_property_descriptor props[] = {
      {"get", NULL, op_get, NULL, NULL, NULL, napi_default, hd},
      {"getStale", NULL, op_get_stale, NULL, NULL, NULL, napi_default, hd},
      {"store", NULL, op_store, NULL, NULL, NULL, napi_default, hd},
      {"incr", NULL, op_incr, NULL, NULL, NULL, napi_default, hd},
      {"push", NULL, op_push, NULL, NULL, NULL, napi_default, hd},
      {"pop", NULL, op_pop, NULL, NULL, NULL, napi_default, hd},
      {"llen", NULL, op_llen, NULL, NULL, NULL, napi_default, hd},
      {"ttl", NULL, op_ttl, NULL, NULL, NULL, napi_default, hd},
      {"expire", NULL, op_expire, NULL, NULL, NULL, napi_default, hd},
      {"flushAll", NULL, op_flush_all, NULL, NULL, NULL, napi_default, hd},
      {"flushExpired", NULL, op_flush_expired, NULL, NULL, NULL, napi_default, hd},
      {"getKeys", NULL, op_get_keys, NULL, NULL, NULL, napi_default, hd},
      {"stats", NULL, op_stats, NULL, NULL, NULL, napi_default, hd},
      {"check", NULL, op_check, NULL, NULL, NULL, napi_default, hd},
      {"close", NULL, op_close, NULL, NULL, NULL, napi_default, hd},
  };
  napi_value obj;
  CHECK(napi_create_object(env, &obj));
  CHECK(napi_define_properties(env, obj, sizeof props / sizeof props[0], props));
  return obj;
}

/* setScratch(Float64Array): where secondary results go */
static napi_value mod_set_scratch(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  napi_typedarray_type tt;
  size_t len = 0;
  void *data = NULL;
  if (argc < 1 || napi_get_typedarray_info(env, argv[0], &tt, &len, &data, NULL, NULL) != napi_ok ||
      tt != napi_float64_array || len < 8) {
    return fail(env, "a Float64Array of at least 8 elements expected");
  }
  shd_env *e = env_data(env);
  if (e->res_ref) napi_delete_reference(env, e->res_ref);
  CHECK(napi_create_reference(env, argv[0], 1, &e->res_ref));
  e->res = data;
  return NULL;
}

/* crashAt(point): the crash tests' fault injection (0 disarms) */
static napi_value mod_crash_at(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  int32_t point = 0;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  CHECK(napi_get_value_int32(env, argv[0], &point));
  shd_crash_point = point;
  return NULL;
}

static void env_free(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  shd_env *e = data;
  free(e->key);
  free(e->val);
  free(e->out.p);
  free(e);
}

static napi_value init(napi_env env, napi_value exports) {
  shd_env *e = calloc(1, sizeof *e);
  if (!e) return fail(env, "out of memory");
  e->key = malloc(KEY_CAP);
  e->val = malloc(VAL_CAP);
  e->val_cap = VAL_CAP;
  e->out.p = malloc(VAL_CAP);
  e->out.cap = VAL_CAP;
  if (!e->key || !e->val || !e->out.p) return fail(env, "out of memory");
  CHECK(napi_set_instance_data(env, e, env_free, NULL));
  napi_property_descriptor props[] = {
      {"create", NULL, mod_create, NULL, NULL, NULL, napi_default, NULL},
      {"attach", NULL, mod_attach, NULL, NULL, NULL, napi_default, NULL},
      {"setScratch", NULL, mod_set_scratch, NULL, NULL, NULL, napi_default, NULL},
      {"crashAt", NULL, mod_crash_at, NULL, NULL, NULL, napi_default, NULL},
  };
  CHECK(napi_define_properties(env, exports, sizeof props / sizeof props[0], props));
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
