/* Arguments and results: keys and values read into this environment's buffers, values
   copied out of a zone made into JavaScript values (after the lock is released). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "napi.h"

napi_value js_throw_last(napi_env env, const char *what) {
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

napi_value js_fail(napi_env env, const char *message) {
  napi_throw_error(env, "ERR_TSRESTY_SHDICT", message);
  return NULL;
}

napi_value js_fail_with(napi_env env, const char *message, int rc) {
  if (rc <= 0) return js_fail(env, message);
  char text[256];
  snprintf(text, sizeof text, "%s: %s", message, strerror(rc));
  return js_fail(env, text);
}

shd_env *js_env(napi_env env) {
  shd_env *e = NULL;
  napi_get_instance_data(env, (void **)&e);
  return e;
}

int js_begin(napi_env env, napi_callback_info info, call *c) {
  c->argc = 6;
  void *data = NULL;
  if (napi_get_cb_info(env, info, &c->argc, c->argv, NULL, &data) != napi_ok) return 0;
  c->hd = data;
  if (!c->hd->z.base) {
    js_fail(env, "the zone is closed");
    return 0;
  }
  return 1;
}

int js_read_key(napi_env env, shd_handle *hd, napi_value v, shd_key *k) {
  size_t len = 0;
  if (napi_get_value_string_utf8(env, v, (char *)hd->e->key, KEY_CAP, &len) != napi_ok) {
    js_throw_last(env, "reading the key");
    return 0;
  }
  if (len > SHD_KEY_MAX || len == 0) {
    js_fail(env, "key of 1 to 65535 bytes expected");
    return 0;
  }
  k->bytes = hd->e->key;
  k->len = (uint32_t)len;
  k->hash = shd_hash(hd->z.seed, k->bytes, len);
  return 1;
}

static int js_is_ascii(const uint8_t *p, size_t n) {
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
int js_read_value(napi_env env, shd_env *e, napi_value v, shd_value *out) {
  napi_valuetype t;
  if (napi_typeof(env, v, &t) != napi_ok) return js_throw_last(env, "typeof"), 0;
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
      if (napi_get_value_string_utf8(env, v, (char *)e->val, e->val_cap, &len) != napi_ok) return js_throw_last(env, "reading the value"), 0;
      /* Written up to the last 4 bytes: maybe cut short. Measure, grow, read again. */
      if (len + 4 >= e->val_cap) {
        if (napi_get_value_string_utf8(env, v, NULL, 0, &len) != napi_ok) return js_throw_last(env, "measuring the value"), 0;
        if (len > 0xffffffffu - 8) return js_fail(env, "string value too large"), 0;
        uint8_t *p = realloc(e->val, len + 8);
        if (!p) return js_fail(env, "out of memory reading the value"), 0;
        e->val = p;
        e->val_cap = len + 8;
        if (napi_get_value_string_utf8(env, v, (char *)e->val, e->val_cap, &len) != napi_ok) return js_throw_last(env, "reading the value"), 0;
      }
      out->type = T_STRING;
      out->bytes = e->val;
      out->len = (uint32_t)len;
      out->ascii = (uint8_t)js_is_ascii(e->val, len);
      return 1;
    }
    case napi_object: {
      napi_typedarray_type tt;
      size_t len = 0;
      void *data = NULL;
      if (napi_get_typedarray_info(env, v, &tt, &len, &data, NULL, NULL) != napi_ok || tt != napi_uint8_array) {
        return js_fail(env, "value must be a string, number, boolean or Uint8Array"), 0;
      }
      out->type = T_BINARY;
      out->bytes = data;
      /* 4 GiB or more (a zone is 2 GiB at most): a length no zone can hold, so that the store
         answers "no memory" as for any value larger than the zone (it threw). Never copied: no
         block of that size is ever found. */
      out->len = len > 0xffffffffu - 8 ? 0xffffffffu - 8 : (uint32_t)len;
      return 1;
    }
    default:
      return js_fail(env, "value must be a string, number, boolean or Uint8Array"), 0;
  }
}

napi_value js_make_value(napi_env env, shd_env *e, const shd_got *g) {
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

napi_value js_int(napi_env env, int32_t n) {
  napi_value v;
  napi_create_int32(env, n, &v);
  return v;
}

uint64_t js_ms(napi_env env, napi_value v) {
  double d = 0;
  napi_get_value_double(env, v, &d);
  return d > 0 ? (uint64_t)d : 0;
}

/* What `v` is, as an error names it: its type, or the number as JavaScript writes it. */
static void describe(napi_env env, napi_value v, char *out, size_t cap) {
  static const char *const types[] = {"undefined", "null",     "a boolean", "a number", "a string",
                                      "a symbol",  "an object", "a function", "an external", "a bigint"};
  napi_valuetype t = napi_undefined;
  double d = 0;
  napi_typeof(env, v, &t);
  if (t != napi_number || napi_get_value_double(env, v, &d) != napi_ok)
    snprintf(out, cap, "%s", (size_t)t < sizeof types / sizeof types[0] ? types[t] : "another type");
  else if (isnan(d))
    snprintf(out, cap, "NaN");
  else if (isinf(d))
    snprintf(out, cap, "%sInfinity", d < 0 ? "-" : "");
  else
    snprintf(out, cap, "%.17g", d);
}

int js_int_arg(napi_env env, napi_value v, const char *call, const char *name, int64_t min, int64_t max,
               int64_t *out) {
  napi_valuetype t = napi_undefined;
  double d = 0;
  /* Compared as doubles first (NaN fails), so that the cast is of a number in range; exact while
     min and max are within 2^53. */
  if (v != NULL && napi_typeof(env, v, &t) == napi_ok && t == napi_number &&
      napi_get_value_double(env, v, &d) == napi_ok && d >= (double)min && d <= (double)max &&
      d == (double)(int64_t)d) {
    *out = (int64_t)d;
    return 1;
  }
  char given[64], text[256];
  if (v == NULL) snprintf(given, sizeof given, "nothing");
  else describe(env, v, given, sizeof given);
  snprintf(text, sizeof text, "%s: %s must be an integer from %lld to %lld, not %s", call, name, (long long)min,
           (long long)max, given);
  js_fail(env, text);
  return 0;
}
