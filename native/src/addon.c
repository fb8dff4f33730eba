/*
 * The Node-API surface: module functions create/attach/setScratch, for tests
 * crashAt/readBumpSeconds/readCounts/writeCounts/addCounts (system.c adds the master's notify and reap), and per zone
 * an object of functions whose callback data is the zone (no handle argument to unwrap).
 * Secondary results (flags, staleness, a new length, a reason code) go into a Float64Array the
 * facade registered once with setScratch, so the hot calls allocate nothing: keys and string
 * values are read into buffers of this Node environment, reused by every call.
 */
#include <stdlib.h>
#include <string.h>

#include "napi.h"

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
  int64_t size = 0;
  if (!string_arg(env, argv[0], name, sizeof name)) return js_fail(env, "zone name of 1 to 63 bytes expected");
  if (!js_int_arg(env, argv[1], "create", "size", SHD_MIN_SIZE, SHD_MAX_SIZE, &size)) return NULL;
  int fd = -1;
  const char *err = NULL;
  int rc = shd_create(name, (uint64_t)size, &fd, &err);
  if (rc != 0) return js_fail_with(env, err, rc);
  return js_int(env, fd);
}

/* attach(fd, name, size) -> zone object */
static napi_value mod_attach(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  int64_t fd = -1;
  int64_t size = 0;
  char name[SHD_NAME_MAX + 2];
  if (!js_int_arg(env, argv[0], "attach", "fd", 0, INT32_MAX, &fd)) return NULL;
  if (!string_arg(env, argv[1], name, sizeof name)) return js_fail(env, "zone name of 1 to 63 bytes expected");
  if (!js_int_arg(env, argv[2], "attach", "size", SHD_MIN_SIZE, SHD_MAX_SIZE, &size)) return NULL;
  shd_env *e = js_env(env);
  if (!e || !e->res) return js_fail(env, "setScratch() must be called before attach()");
  shd_handle *hd = calloc(1, sizeof *hd);
  if (!hd) return js_fail(env, "out of memory");
  const char *err = NULL;
  int rc = shd_attach((int)fd, name, (uint64_t)size, &hd->z, &err);
  if (rc != 0) {
    free(hd);
    return js_fail_with(env, err, rc);
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
      {"peekStats", NULL, op_peek_stats, NULL, NULL, NULL, napi_default, hd},
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
    return js_fail(env, "a Float64Array of at least 8 elements expected");
  }
  shd_env *e = js_env(env);
  if (e->res_ref) napi_delete_reference(env, e->res_ref);
  CHECK(napi_create_reference(env, argv[0], 1, &e->res_ref));
  e->res = data;
  return NULL;
}

/* The one int32 argument of a call. */
static napi_status int_arg(napi_env env, napi_callback_info info, int32_t *value) {
  size_t argc = 1;
  napi_value argv[1];
  napi_status status = napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  return status != napi_ok ? status : napi_get_value_int32(env, argv[0], value);
}

/* crashAt(point): the crash tests' fault injection (0 disarms); crashAt(-point) stops the
   process there once (SIGSTOP, holding the lock) instead of killing it */
static napi_value mod_crash_at(napi_env env, napi_callback_info info) {
  int32_t point = 0;
  CHECK(int_arg(env, info, &point));
  shd_crash_stops = point < 0;
  shd_crash_point = point < 0 ? -point : point;
  return NULL;
}

/* readBumpSeconds(1 | 0 | -1): how often a read may move an item to the LRU head: once a
   second (the default), at every read (as nginx: tests of the eviction order), never (tests of
   reads without the lock) */
static napi_value mod_read_bump_seconds(napi_env env, napi_callback_info info) {
  int32_t seconds = 1;
  CHECK(int_arg(env, info, &seconds));
  if (seconds < -1 || seconds > 1) return js_fail(env, "1, 0 or -1 expected");
  shd_read_bump_seconds = seconds;
  return NULL;
}

/* readClockSkew(seconds): seconds added, in this process, to the clock that decides whether a
   read moves an item (tests of a read long after the item's last move) */
static napi_value mod_read_clock_skew(napi_env env, napi_callback_info info) {
  int32_t seconds = 0;
  CHECK(int_arg(env, info, &seconds));
  shd_read_clock_skew = seconds;
  return NULL;
}

static napi_value counts_array(napi_env env, const shd_op_counts *c) {
  napi_value arr;
  CHECK(napi_create_array_with_length(env, 3, &arr));
  const double counts[3] = {c->unlocked, c->retried, c->locked};
  for (uint32_t i = 0; i < 3; i++) {
    napi_value n;
    CHECK(napi_create_double(env, counts[i], &n));
    CHECK(napi_set_element(env, arr, i, n));
  }
  return arr;
}

/* readCounts() -> [unlocked, retried, locked]: this process's gets so far (see dict.h) */
static napi_value mod_read_counts(napi_env env, napi_callback_info info) {
  (void)info;
  return counts_array(env, &shd_reads);
}

/* writeCounts() -> [unlocked, retried, locked]: this process's incr and sets of numbers so far */
static napi_value mod_write_counts(napi_env env, napi_callback_info info) {
  (void)info;
  return counts_array(env, &shd_writes);
}

/* addCounts() -> [unlocked, retried, locked]: this process's adds of numbers and booleans so far */
static napi_value mod_add_counts(napi_env env, napi_callback_info info) {
  (void)info;
  return counts_array(env, &shd_adds);
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
  if (!e) return js_fail(env, "out of memory");
  e->key = malloc(KEY_CAP);
  e->val = malloc(VAL_CAP);
  e->val_cap = VAL_CAP;
  e->out.p = malloc(VAL_CAP);
  e->out.cap = VAL_CAP;
  if (!e->key || !e->val || !e->out.p) return js_fail(env, "out of memory");
  CHECK(napi_set_instance_data(env, e, env_free, NULL));
  napi_property_descriptor props[] = {
      {"create", NULL, mod_create, NULL, NULL, NULL, napi_default, NULL},
      {"attach", NULL, mod_attach, NULL, NULL, NULL, napi_default, NULL},
      {"setScratch", NULL, mod_set_scratch, NULL, NULL, NULL, napi_default, NULL},
      {"crashAt", NULL, mod_crash_at, NULL, NULL, NULL, napi_default, NULL},
      {"readBumpSeconds", NULL, mod_read_bump_seconds, NULL, NULL, NULL, napi_default, NULL},
      {"readClockSkew", NULL, mod_read_clock_skew, NULL, NULL, NULL, napi_default, NULL},
      {"readCounts", NULL, mod_read_counts, NULL, NULL, NULL, napi_default, NULL},
      {"writeCounts", NULL, mod_write_counts, NULL, NULL, NULL, napi_default, NULL},
      {"addCounts", NULL, mod_add_counts, NULL, NULL, NULL, napi_default, NULL},
  };
  CHECK(napi_define_properties(env, exports, sizeof props / sizeof props[0], props));
  CHECK(sys_define(env, exports));
  CHECK(spawn_define(env, exports));
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
