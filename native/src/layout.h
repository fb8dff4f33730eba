/*
 * The zone's memory layout. native/README.md explains it; in short:
 *
 *   [header | shard headers | shard 0: buckets, heap | shard 1: buckets, heap | ...]
 *
 * Every reference inside the zone is a 32-bit byte offset from the zone's start (0 = none),
 * so the zone works wherever each process maps it. Each shard header holds a lock word
 * and the shard's bookkeeping; a heap is a sequence of blocks, each with a block header.
 *
 * What is authoritative (kept consistent at every instant by the order of single aligned
 * stores) and what is derived (rebuilt after a crash) is marked on each field below.
 */
#ifndef SHD_LAYOUT_H
#define SHD_LAYOUT_H

#include <stddef.h>
#include <stdint.h>

#define SHD_MAGIC 0x315a4448535253ULL /* "SRSHDZ1" */
#define SHD_VERSION 7u
#define SHD_NAME_MAX 63
#define SHD_MIN_SIZE 8192u
#define SHD_MAX_SIZE 2147483648u /* offsets are 32-bit; 2 GiB keeps every block size below 2^31 */
#define SHD_KEY_MAX 65535u

/* Allocator size classes (TLSF: two-level segregated fit). */
#define SHD_ALIGN 16u /* so that an item's value and tag are one aligned 16-byte word */
#define SHD_MIN_BLOCK 16u
/* A pair of cache lines: the unit a processor's adjacent-line prefetcher fetches. An item that
   other processes write without the lock is placed on whole pairs of its own (blk_alloc_paired). */
#define SHD_LINE_PAIR 128u
/* A page of memory: the unit the processor's stream prefetchers work within, and the batch a
   process's reserve takes from the heap (lanes.c), SHD_PAGE_PAIRS pairs of lines. */
#define SHD_PAGE 4096u
#define SHD_PAGE_PAIRS (SHD_PAGE / SHD_LINE_PAIR)
#define SL_LOG2 4
#define SL_COUNT (1u << SL_LOG2)
#define FL_SHIFT 7 /* blocks below 128 bytes sit in 16 exact 8-byte classes of level 0 */
#define SMALL_LIMIT (1u << FL_SHIFT)
#define FL_COUNT 25 /* level 24 holds blocks of 2^30 up to 2^31 bytes */

/* Block states, in the low 3 bits of size_state. */
#define BLK_FREE 0u
#define BLK_ITEM 1u
#define BLK_NODE 2u
#define BLK_STATE_MASK 7u

/* Value types. */
#define T_STRING 1
#define T_NUMBER 2
#define T_BOOLEAN 3
#define T_BINARY 4
#define T_LIST 5

/*
 * Adds without the lock (dict.c, lanes.c). A process that adds claims one of SHD_LANES lanes of
 * the zone (its pid in lane_pid); in each shard of a zone of SHD_LANES_MIN bytes or more its lane
 * is 512 bytes that its owner writes (lockers only lower `pending`): the blocks it holds for its
 * next adds (its reserve), and how many of its items wait for the LRU list. A batch under the
 * lock tops the reserve up to SHD_LANE_FILL blocks from the heap; the process's own deletes put
 * their pairs in it up to the shard's keep limit (zone.c: 29 to SHD_LANE_BLOCKS, by the shard's
 * size), so that a process that deletes and adds again reuses its own memory, not the heap's.
 */
#define SHD_LANES 32u
#define SHD_LANES_MIN (1024u * 1024u) /* the smallest zone with lanes */
#define SHD_LANE_BLOCKS 125u
#define SHD_LANE_FILL 29u
typedef struct {
  uint32_t pending; /* items this lane's adds linked that are not yet in the LRU list */
  uint32_t count;   /* blocks[0..count) are this lane's reserve: items in use, not yet linked */
  uint32_t blocks[SHD_LANE_BLOCKS];
  uint32_t recovering; /* 1 while a recovery of the shard runs: the owner adds under the lock */
} shd_lane __attribute__((aligned(512)));
_Static_assert(sizeof(shd_lane) == 512, "a lane is 512 bytes: SHD_LANE_BLOCKS fills it");

/* The zone's first bytes: what attach checks, and how the zone is split into shards. */
typedef struct {
  uint64_t magic;
  uint32_t version;
  uint32_t header_size; /* this header and the shard headers */
  uint64_t size;        /* the declared zone size, = the memfd's size */
  uint64_t seed;        /* hash seed, random per zone */
  char name[64];        /* NUL-terminated */
  uint32_t nshards;     /* a power of two, 1 to SHD_MAX_SHARDS */
  uint32_t shard_bits;  /* log2(nshards): a key's shard is the top bits of its hash */
  uint32_t lock_size;   /* sizeof a shard's lock word for the creator, checked by attach */
  uint32_t pad0;
  /* The lanes' owners (dict.c, adds without the lock): a pid, or 0 for a free lane. */
  uint32_t lane_pid[SHD_LANES] __attribute__((aligned(64)));
} shd_header;

/* A bucket: the head of a hash chain and the number of times the head was written, which an add
   without the lock compares with the head in one step (a freed and reused head item looks the
   same by its offset alone). */
typedef struct {
  uint32_t head;
  uint32_t ver;
} shd_bucket __attribute__((aligned(8)));

#define SHD_MAX_SHARDS 16u
#define SHD_SHARD_MIN (1024u * 1024u) /* each shard of a sharded zone has at least 1 MiB */

/*
 * One shard: its own lock, hash index, LRU list and heap. A zone below 2 MiB is one shard;
 * larger zones have up to 16, so that processes working on different keys rarely meet on
 * a lock (see native/README.md for what sharding changes).
 */
typedef struct {
  /* 0 when free, else the holder's pid, with a bit for sleepers (lock.c) */
  uint32_t lock __attribute__((aligned(64)));
  /* Odd while a locker holds the shard, and changed by every locker: a get that reads the shard
     without the lock (shd_get) trusts what it read only if seq was even and is unchanged. */
  uint32_t seq;
  /* ---- geometry, written at creation: attach compares it with the split it computes itself
     (zone.c), and no operation reads it (shd_shard holds each process's own copy) */
  uint32_t bucket_off; /* the bucket array: bucket_mask + 1 heads of hash chains */
  uint32_t bucket_mask;
  uint32_t heap_start;
  uint32_t heap_end;
  /* ---- derived bookkeeping, rebuilt by recovery */
  uint32_t lru_head; /* most recently used item */
  uint32_t lru_tail; /* least recently used item */
  uint32_t items;    /* items reachable from the index */
  uint32_t fl_bitmap;
  uint64_t free_bytes;
  /* ---- counters that survive recovery */
  uint64_t recoveries; /* times a locker found the previous holder dead */
  uint64_t resets;     /* times recovery found the heap unreadable and emptied the shard */
  uint32_t sl_bitmap[FL_COUNT];
  uint32_t bins[FL_COUNT][SL_COUNT];
} shd_shard_hdr __attribute__((aligned(64)));

/* Every block starts with this. size_state: authoritative; prev_size: derived. */
typedef struct {
  uint32_t size_state; /* size in bytes (multiple of 8, header included) | state */
  uint32_t prev_size;  /* size of the block before, for coalescing */
} shd_block;

/* A free block: links of its size class's free list (derived). */
typedef struct {
  shd_block b;
  uint32_t next;
  uint32_t prev;
} shd_free;

/* An item: one key with its value. */
typedef struct {
  shd_block b;       /* 0 */
  uint32_t hnext;    /* 8: next item of the hash chain (authoritative) */
  uint32_t hash;     /* 12: hash of the key, set before the item is linked */
  uint32_t lprev;    /* 16: LRU neighbour toward the head (derived) */
  uint32_t lnext;    /* 20: LRU neighbour toward the tail (derived) */
  uint64_t expires;  /* 24: monotonic ms; 0 = never (one aligned store) */
  uint32_t uflags;   /* 32: the user's flags */
  uint32_t vlen;     /* 36: value bytes; for a list, its length (derived) */
  uint16_t klen;     /* 40 */
  uint8_t type;      /* 42 */
  uint8_t ascii;     /* 43: the string value is 7-bit */
  /* 44: the second a read last moved it to the LRU head (shd_read_epoch), 0 = none. Whole
     seconds, not a byte of them: a second kept mod 255 made a read 255 s after the last move
     look like one in the same second, and it moved nothing. */
  uint32_t rbump;
  union {
    double num;      /* number and boolean values (one aligned store, or an atomic one: incr) */
    uint64_t bits;   /* num's bytes, for the atomic operations */
    uint32_t lhead;  /* a list's first node (authoritative) */
  } v;               /* 48 */
  union {
    /* A number's or boolean's tag: random and never 0 while the item may be written without
       the lock (dict.c, write_unlocked, which compares it with v in one atomic step); 0 once the
       item is freed or flushed, new when its expiry changes (new flags or type: a new item). */
    uint64_t tag;
    uint32_t ltail;  /* a list's last node (derived) */
  };                 /* 56 */
  uint64_t stamp;    /* 64: when last used (shd_stamp), to merge the shards' LRU orders */
  uint8_t data[];    /* 72: key, then a string or binary value */
} shd_item;
_Static_assert(offsetof(shd_item, rbump) == 44 && offsetof(shd_item, data) == 72,
               "rbump fills the word before the value: the item header stays 72 bytes");
_Static_assert(offsetof(shd_item, v) % 16 == 0 && offsetof(shd_item, tag) == offsetof(shd_item, v) + 8,
               "an item's value and tag are one 16-byte word of a 16-byte aligned block");

/* A list node. next: authoritative; prev: derived. */
typedef struct {
  shd_block b;     /* 0 */
  uint32_t next;   /* 8 */
  uint32_t prev;   /* 12 */
  uint32_t vlen;   /* 16 */
  uint8_t type;    /* 20: T_STRING or T_NUMBER */
  uint8_t ascii;   /* 21 */
  uint16_t pad;    /* 22 */
  union {
    double num;
    uint8_t data[8];
  } v; /* 24 */
} shd_node;

/*
 * What a block of a lane holds in its LRU links, which no offset can equal (offsets are below
 * 2^31): reserved by lane L, lprev = LANE_MARK(L); filled by an add of lane L and linked but
 * not yet in the LRU list (pending), lprev = LRU_PENDING and lnext = LANE_MARK(L). So a lane's
 * list that a dead owner left can be told from blocks since freed and used again (lanes.c).
 */
#define LRU_PENDING 0xFFFFFFFFu
#define LANE_MARK(lane) (0xC0000000u | (uint32_t)(lane))
#define LANE_OF_MARK(mark) (((mark) & ~(SHD_LANES - 1)) == 0xC0000000u ? (int)((mark) & (SHD_LANES - 1)) : -1)

#define ITEM_HEADER ((uint32_t)offsetof(shd_item, data))
#define NODE_HEADER ((uint32_t)offsetof(shd_node, v))

/*
 * One shard as this process sees it: every operation works on one of these. The geometry
 * (buckets, bucket_mask, heap_start, heap_end) is this process's own copy, computed from the
 * zone's size at attach (zone.c) and never read from the zone again: other processes map the
 * zone read-write, and an operation bounds every offset it follows by these (bounds.h).
 */
/* The items an adding process links before its next batch puts them in the LRU list: each batch
   takes the shard's lock and its shared lines from the other processes, so fewer is faster. */
#define SHD_PENDING_MAX 128u

typedef struct {
  uint8_t *base; /* the zone's start: offsets are from here */
  shd_shard_hdr *h;
  shd_bucket *buckets;
  shd_lane *lanes; /* SHD_LANES lanes, or NULL in a zone too small for them */
  const uint32_t *lane_pid; /* the zone's lane owners (shd_header), for the lanes' reclaim */
  uint32_t bucket_mask;
  uint32_t heap_start;
  uint32_t heap_end;
  uint32_t max_blocks; /* the most blocks the heap holds: a longer walk is a cycle */
  uint64_t seed;
  int stamped; /* the zone has several shards: items carry stamps */
  /* This process's adds without the lock in this shard: its lane (-1: none), whether the lane
     still holds what a dead owner left, and the items it added that wait for the LRU list, each
     with its tag (a freed and reused block does not have it). */
  int lane;
  int lane_stale;
  uint32_t lane_dry; /* adds left to make under the lock after a refill found no free block */
  uint64_t reclaim_ms; /* when an allocation that found no room last looked for ended lanes */
  uint32_t lane_keep; /* the most blocks this process's deletes put in its reserve (zone.c) */
  int deleting;      /* a delete is freeing an item: its pair may go to the reserve (not an eviction) */
  uint32_t pending;
  uint32_t pending_items[SHD_PENDING_MAX];
  uint64_t pending_tags[SHD_PENDING_MAX];
  int corrupt; /* a locked operation met a link that is not in the heap (bounds.h) */
} shd_shard;

/* One mapped zone in this process. */
typedef struct {
  uint8_t *base;
  shd_header *h;
  uint64_t size;
  uint64_t seed;
  int fd;
  uint32_t nshards;
  uint32_t shard_bits;
  int lane; /* this process's lane: -1 not claimed yet, -2 none free */
  shd_shard shards[SHD_MAX_SHARDS];
} shd_zone;

#define AT(z, off) ((void *)((z)->base + (off)))
#define OFF(z, p) ((uint32_t)((const uint8_t *)(p) - (z)->base))
#define BLK(z, off) ((shd_block *)AT(z, off))
#define ITEM(z, off) ((shd_item *)AT(z, off))
#define NODE(z, off) ((shd_node *)AT(z, off))

static inline uint32_t blk_size(const shd_block *b) { return b->size_state & ~BLK_STATE_MASK; }
static inline uint32_t blk_state(const shd_block *b) { return b->size_state & BLK_STATE_MASK; }

/*
 * Orders the stores before it before the stores after it, as the compiler emits them. A
 * process killed by a signal loses no executed store, so program order is what recovery
 * sees; x86 and ARM keep a single thread's stores in order for the thread that comes next
 * after the kernel's futex hand-over (which is a full barrier).
 */
#define STORE_ORDER() __atomic_signal_fence(__ATOMIC_SEQ_CST)

/* Fault injection for the crash tests: a process that armed point n dies there (or, with
   shd_crash_stops, stops there once: a lock holder frozen by SIGSTOP). */
extern int shd_crash_point;
extern int shd_crash_stops;
void shd_die(void);
#define CRASH_POINT(n)                                   \
  do {                                                   \
    if (__builtin_expect(shd_crash_point == (n), 0)) shd_die(); \
  } while (0)

/* alloc.c */
void heap_format(shd_shard *z);
uint32_t blk_alloc(shd_shard *z, uint32_t size, uint32_t state);
uint32_t blk_alloc_paired(shd_shard *z, uint32_t size, uint32_t state);
uint32_t blk_alloc_aligned(shd_shard *z, uint32_t size, uint32_t align, uint32_t state);
void blk_cut(shd_shard *z, uint32_t off, uint32_t size);
void blk_free(shd_shard *z, uint32_t off);
void freelist_insert(shd_shard *z, uint32_t off);
void freelist_reset(shd_shard *z);
void size_class(uint32_t size, uint32_t *fl, uint32_t *sl);

/* recover.c, check.c */
void shard_recover(shd_shard *z);
void shard_reset(shd_shard *z);
typedef void (*shd_problem_fn)(void *ctx, const char *problem);
uint32_t shard_check(shd_shard *z, shd_problem_fn report, void *ctx);

#endif
