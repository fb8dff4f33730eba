/* What the Node-API files share: per-environment buffers, a zone's handle, arguments and
   results (values.c), the per-zone operations (ops.c) that addon.c puts on a zone object. */
#ifndef SHD_NAPI_H
#define SHD_NAPI_H

#include <node_api.h>
#include <sys/syscall.h>

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
    if ((call) != napi_ok) return js_throw_last(env, #call);     \
  } while (0)

typedef struct {
  shd_handle *hd;
  napi_value argv[6];
  size_t argc;
} call;

napi_value js_throw_last(napi_env env, const char *what);
napi_value js_fail(napi_env env, const char *message);
/* js_fail for zone.c's results: a positive `rc` is an errno, whose text follows the message. */
napi_value js_fail_with(napi_env env, const char *message, int rc);
shd_env *js_env(napi_env env);
/* The call's arguments and zone; 0 (with an exception pending) when the zone is closed. */
int js_begin(napi_env env, napi_callback_info info, call *c);
int js_read_key(napi_env env, shd_handle *hd, napi_value v, shd_key *k);
int js_read_value(napi_env env, shd_env *e, napi_value v, shd_value *out);
napi_value js_make_value(napi_env env, shd_env *e, const shd_got *g);
napi_value js_int(napi_env env, int32_t n);
/* An integer argument from `min` to `max` (within 2^53) into `out`: 0, with an error pending that
   names the call, the argument and what it was given, for anything else (1.5, NaN, a string, a
   number out of range: never wrapped into range, as napi_get_value_int32 wraps 2^32 + 5 to 5).
   `v` NULL: the argument is missing. */
int js_int_arg(napi_env env, napi_value v, const char *call, const char *name, int64_t min, int64_t max,
               int64_t *out);
uint64_t js_ms(napi_env env, napi_value v);

napi_value op_get(napi_env env, napi_callback_info info);
napi_value op_get_stale(napi_env env, napi_callback_info info);
napi_value op_store(napi_env env, napi_callback_info info);
napi_value op_incr(napi_env env, napi_callback_info info);
napi_value op_push(napi_env env, napi_callback_info info);
napi_value op_pop(napi_env env, napi_callback_info info);
napi_value op_llen(napi_env env, napi_callback_info info);
napi_value op_ttl(napi_env env, napi_callback_info info);
napi_value op_expire(napi_env env, napi_callback_info info);
napi_value op_flush_all(napi_env env, napi_callback_info info);
napi_value op_flush_expired(napi_env env, napi_callback_info info);
napi_value op_get_keys(napi_env env, napi_callback_info info);
napi_value op_stats(napi_env env, napi_callback_info info);
napi_value op_peek_stats(napi_env env, napi_callback_info info);
napi_value op_check(napi_env env, napi_callback_info info);
napi_value op_close(napi_env env, napi_callback_info info);

/* pidfd_open(2) (Linux 5.3), for spawn.c and system.c, where the headers predate it. */
#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif

/* system.c: notify, reap and the tests' datagram receiver, defined on the module's exports. */
napi_status sys_define(napi_env env, napi_value exports);
/* spawn.c: spawn, ngx.pipe's start of a child without fork(). */
napi_status spawn_define(napi_env env, napi_value exports);
/* spawn.c: SIGKILLs the groups of the children spawn started and has not reaped, for an exit that
   runs no JavaScript (system.c). Async-signal-safe. */
void kill_pipe_groups(void);

#endif
