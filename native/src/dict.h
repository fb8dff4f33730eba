/* The dictionary operations on a mapped zone, independent of Node-API. */
#ifndef SHD_DICT_H
#define SHD_DICT_H

#include "layout.h"

/* Outcomes: (code << 1) | forcible. */
#define RC_OK 0
#define RC_EXISTS 1
#define RC_NOT_FOUND 2
#define RC_NO_MEMORY 3
#define RC_NOT_A_NUMBER 4
#define RC_IS_LIST 5
#define RC_NOT_LIST 6
/* 7 is not used: it was "the lock could not be taken"; lock.c's lock waits and never fails. */
#define RC_OOM 8         /* this process could not grow a buffer */
#define RC_CORRUPT 9     /* the shard held a link outside its heap: it was emptied (bounds.h) */

/* Store operations (OpenResty's op flags). */
#define OP_SET 0
#define OP_ADD 1
#define OP_REPLACE 2
#define OP_SAFE 4
/* Only when the key's live item holds the number `expect` (bit for bit), else "not found": ngx.lock's
   unlock and expire, which must not release or extend a lock another holder took since. */
#define OP_IF_NUMBER 8

typedef struct {
  const uint8_t *bytes;
  uint32_t len;
  uint32_t hash;
} shd_key;

typedef struct {
  int type; /* 0 = nil (delete) */
  const uint8_t *bytes;
  uint32_t len;
  uint8_t ascii;
  double num;
} shd_value;

/* A value copied out of the zone (bytes into a buffer this process owns). */
typedef struct {
  uint8_t *p;
  size_t cap;
} shd_buf;

typedef struct {
  int type; /* 0 = missing */
  uint32_t len;
  uint8_t ascii;
  double num;
  uint32_t uflags;
  int stale;
} shd_got;

uint32_t shd_hash(uint64_t seed, const uint8_t *p, size_t n);
uint64_t shd_now_ms(void);
uint64_t shd_stamp(void);

/* How often a read may move an item to the LRU head: 1 = once a second (the default), 0 = at
   every read (tests of the eviction order), -1 = never (tests of reads without the lock). */
extern int shd_read_bump_seconds;
extern int64_t shd_read_clock_skew; /* seconds added to that clock (tests) */

/* This process's gets so far: answered without the lock, reads retried because a locker came
   in (or was in), and gets answered under the lock. */
typedef struct {
  double unlocked;
  double retried;
  double locked;
} shd_op_counts;
extern shd_op_counts shd_reads;
/* This process's incr and sets of a number, likewise: made without the lock (dict.c,
   write_unlocked), tries made again, and made under the lock. */
extern shd_op_counts shd_writes;
/* This process's adds of numbers and booleans, likewise (dict.c, add_unlocked). */
extern shd_op_counts shd_adds;

void shd_lock(shd_shard *z);
/* 1 when the shard was found corrupt under the lock and has been emptied (bounds.h): the
   operation's outcome is then RC_CORRUPT. */
int shd_unlock(shd_shard *z);

int shd_get(shd_zone *z, const shd_key *k, int stale, shd_got *g, shd_buf *buf);
int shd_store(shd_zone *z, const shd_key *k, const shd_value *v, uint64_t ttl_ms, uint32_t uflags, int op,
              double expect);
int shd_incr(shd_zone *z, const shd_key *k, double delta, int has_init, double init, uint64_t init_ttl_ms,
             double *result);
int shd_push(shd_zone *z, const shd_key *k, const shd_value *v, int left, uint32_t *len);
int shd_pop(shd_zone *z, const shd_key *k, int left, shd_got *g, shd_buf *buf);
int shd_llen(shd_zone *z, const shd_key *k, uint32_t *len);
int shd_expiry(shd_zone *z, const shd_key *k, int set, uint64_t ttl_ms, double *ms);
int shd_flush_all(shd_zone *z);
int shd_flush_expired(shd_zone *z, uint32_t max, uint32_t *freed);
/* Keys, LRU first, as [u16 length][bytes]...; *count keys. */
int shd_get_keys(shd_zone *z, uint32_t max, shd_buf *buf, uint32_t *count);

typedef struct {
  uint64_t capacity;
  uint64_t free_bytes;
  uint32_t items;
  uint64_t recoveries;
  uint64_t resets;
  uint64_t ended_reserves; /* peek: of free_bytes, what ended processes' lanes still hold (lanes.c) */
} shd_stats;
int shd_stats_of(shd_zone *z, shd_stats *s);
void shd_stats_peek(shd_zone *z, shd_stats *s);

/* zone.c: 0; -1 with *err for a bad argument or zone; or a failed system call's errno, with the
   step in *err. */
int shd_create(const char *name, uint64_t size, int *fd, const char **err);
int shd_attach(int fd, const char *name, uint64_t size, shd_zone *z, const char **err);
void shd_detach(shd_zone *z);

#endif
