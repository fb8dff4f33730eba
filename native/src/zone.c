/*
 * Creating and mapping zones. A zone is a memfd (never a file in /dev/shm): the creator sizes
 * and seals it, formats it and hands its descriptor to the processes it forks, which map it
 * MAP_SHARED. The kernel frees the memory when the last descriptor and mapping are gone.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "shard.h"

int shd_crash_point = 0;
int shd_crash_stops = 0;

/* Dies at the armed point, or (crashAt(-n)) stops there once, holding what the point holds,
   and goes on when continued (SIGCONT). */
void shd_die(void) {
  if (shd_crash_stops) {
    shd_crash_point = 0;
    kill(getpid(), SIGSTOP);
    return;
  }
  kill(getpid(), SIGKILL);
  for (;;) pause();
}

static uint32_t align_up(uint32_t n, uint32_t a) { return (n + a - 1) & ~(a - 1); }

static shd_shard_hdr *shard_hdr(uint8_t *base, uint32_t i) {
  return (shd_shard_hdr *)(base + align_up((uint32_t)sizeof(shd_header), 64) + i * (uint32_t)sizeof(shd_shard_hdr));
}

static uint32_t headers_size(uint32_t nshards) {
  return align_up((uint32_t)sizeof(shd_header), 64) + nshards * (uint32_t)sizeof(shd_shard_hdr);
}

/*
 * Splits the zone (z->base, z->size, z->seed set) into shards: as many as keep each at
 * SHD_SHARD_MIN or more, up to 16. The split is a function of the size alone, so every process
 * computes it for itself, the creator and each one that attaches, and keeps it in its shd_zone:
 * operations never read the geometry from the zone, which any process mapping it can rewrite.
 * The creator also writes it into the headers (publish), where attach compares it (matches).
 */
static void split(shd_zone *z) {
  uint32_t n = 1, bits = 0;
  while (n * 2 <= SHD_MAX_SHARDS && z->size / (n * 2) >= SHD_SHARD_MIN) {
    n *= 2;
    bits++;
  }
  z->nshards = n;
  z->shard_bits = bits;
  uint32_t header_size = headers_size(n);
  uint64_t end = z->size > SHD_MAX_SIZE - 8 ? SHD_MAX_SIZE - 8 : z->size;
  uint32_t part = (uint32_t)((end - header_size) / n) & ~63u;
  for (uint32_t i = 0; i < n; i++) {
    shd_shard *s = &z->shards[i];
    const uint32_t begin = header_size + i * part;
    uint32_t start = begin;
    /* In a zone of SHD_LANES_MIN or more, a shard starts with the lanes of adds without the lock
       (16 KiB). */
    s->lanes = NULL;
    s->lane_pid = z->h->lane_pid;
    if (z->size >= SHD_LANES_MIN) {
      start = align_up(start, (uint32_t)sizeof(shd_lane));
      s->lanes = (shd_lane *)(z->base + start);
      start += SHD_LANES * (uint32_t)sizeof(shd_lane);
    }
    /* One bucket per 128 bytes, a power of two: short chains for items of a hundred bytes
       and more, for 6% of the memory. */
    uint32_t buckets = 16;
    while (buckets * 2 <= part / 128) buckets *= 2;
    s->base = z->base;
    s->h = shard_hdr(z->base, i);
    s->buckets = (shd_bucket *)(z->base + start);
    s->bucket_mask = buckets - 1;
    s->heap_start = align_up(start + buckets * (uint32_t)sizeof(shd_bucket), 64);
    s->lane = -1; /* the rest of this process's lane state starts at 0 with the zone's */
    s->heap_end = i + 1 == n ? (uint32_t)(end & ~(uint64_t)(SHD_ALIGN - 1)) : begin + part;
    s->max_blocks = (s->heap_end - s->heap_start) / SHD_MIN_BLOCK;
    /* A lane keeps the pairs its owner deletes up to 1/256 of the heap (29 to SHD_LANE_BLOCKS):
       32 processes that deleted much and add no more hold an eighth of the shard at most. */
    uint32_t keep = (s->heap_end - s->heap_start) / (SHD_LINE_PAIR * 256);
    s->lane_keep = keep < SHD_LANE_FILL ? SHD_LANE_FILL : keep > SHD_LANE_BLOCKS ? SHD_LANE_BLOCKS : keep;
    s->seed = z->seed;
    s->stamped = n > 1;
    s->corrupt = 0;
  }
}

/* Writes the split into the zone's headers: what check() and a reader of the memory see. */
static void publish(shd_zone *z) {
  z->h->nshards = z->nshards;
  z->h->shard_bits = z->shard_bits;
  z->h->header_size = headers_size(z->nshards);
  for (uint32_t i = 0; i < z->nshards; i++) {
    const shd_shard *s = &z->shards[i];
    s->h->bucket_off = OFF(z, s->buckets);
    s->h->bucket_mask = s->bucket_mask;
    s->h->heap_start = s->heap_start;
    s->h->heap_end = s->heap_end;
  }
}

/* Whether the zone's headers hold the split this process computed: a zone whose geometry was
   rewritten is refused rather than used with either copy. */
static int matches(const shd_zone *z) {
  const shd_header *h = z->h;
  if (h->nshards != z->nshards || h->shard_bits != z->shard_bits || h->header_size != headers_size(z->nshards))
    return 0;
  for (uint32_t i = 0; i < z->nshards; i++) {
    const shd_shard *s = &z->shards[i];
    if (s->h->bucket_off != OFF(z, s->buckets) || s->h->bucket_mask != s->bucket_mask ||
        s->h->heap_start != s->heap_start || s->h->heap_end != s->heap_end)
      return 0;
  }
  return 1;
}

/* A failed system call's step in *err, and its errno as the result (read before close). */
static int sys_failure(int fd, const char *step, const char **err) {
  int e = errno;
  if (fd >= 0) close(fd);
  *err = step;
  return e > 0 ? e : EIO;
}

int shd_create(const char *name, uint64_t size, int *fd_out, const char **err) {
  char label[80];
  if (strlen(name) > SHD_NAME_MAX) return *err = "zone name longer than 63 bytes", -1;
  if (size < SHD_MIN_SIZE || size > SHD_MAX_SIZE) return *err = "zone size out of range", -1;
  snprintf(label, sizeof label, "tsresty-shdict:%s", name);
  int fd = memfd_create(label, MFD_CLOEXEC | MFD_ALLOW_SEALING);
  if (fd < 0) return sys_failure(-1, "memfd_create failed", err);
  /* Sealed size: no process can shrink the file under another's mapping (SIGBUS). A size past
     RLIMIT_FSIZE fails here (EFBIG; Node ignores the SIGXFSZ that comes with it). */
  if (ftruncate(fd, (off_t)size) != 0) return sys_failure(fd, "sizing the memfd failed", err);
  if (fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) != 0)
    return sys_failure(fd, "sealing the memfd failed", err);
  uint8_t *base = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (base == MAP_FAILED) return sys_failure(fd, "mmap failed", err);
  shd_zone z = {.base = base, .h = (shd_header *)base, .size = size, .fd = fd, .lane = -1};
  shd_header *h = z.h;
  h->version = SHD_VERSION;
  h->size = size;
  h->lock_size = (uint32_t)sizeof z.shards[0].h->lock;
  strcpy(h->name, name);
  if (getrandom(&h->seed, sizeof h->seed, 0) != (ssize_t)sizeof h->seed) h->seed = (uint64_t)getpid() * 0x9E3779B97F4A7C15ull;
  z.seed = h->seed;
  split(&z);
  publish(&z);
  /* The locks are 0, free, as the memfd's bytes are. */
  for (uint32_t i = 0; i < z.nshards; i++) heap_format(&z.shards[i]);
  STORE_ORDER();
  h->magic = SHD_MAGIC; /* last: a zone is either formatted or not a zone */
  munmap(base, size);
  *fd_out = fd;
  return 0;
}

int shd_attach(int fd, const char *name, uint64_t size, shd_zone *z, const char **err) {
  struct stat st;
  if (fstat(fd, &st) != 0) return sys_failure(-1, "the descriptor cannot be read (fstat)", err);
  if ((uint64_t)st.st_size != size) return *err = "the descriptor's size is not the zone's size", -1;
  if (size < SHD_MIN_SIZE || size > SHD_MAX_SIZE) return *err = "zone size out of range", -1;
  uint8_t *base = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (base == MAP_FAILED) return sys_failure(-1, "mmap failed (is the descriptor a zone?)", err);
  shd_header *h = (shd_header *)base;
  /* The split follows from the memfd's own size (fstat above), not from anything in the zone. */
  *z = (shd_zone){.base = base, .h = h, .size = size, .seed = h->seed, .fd = fd, .lane = -1};
  split(z);
  const char *bad = NULL;
  if (h->magic != SHD_MAGIC) bad = "not a tsresty zone (bad magic)";
  else if (h->version != SHD_VERSION) bad = "the zone has another layout version";
  else if (h->size != size) bad = "the zone's header has another size";
  else if (h->lock_size != sizeof z->shards[0].h->lock) bad = "the zone was made by an incompatible build";
  else if (strncmp(h->name, name, sizeof h->name) != 0) bad = "the zone has another name";
  else if (!matches(z)) bad = "the zone's shard headers do not match its size (the zone was overwritten)";
  if (bad) {
    munmap(base, size);
    *z = (shd_zone){0};
    return *err = bad, -1;
  }
  /* Processes this one starts (ngx.pipe) must not keep the zone alive. */
  fcntl(fd, F_SETFD, FD_CLOEXEC);
  return 0;
}

void shd_detach(shd_zone *z) {
  if (z->base) {
    shd_lane_release(z);
    munmap(z->base, z->size);
  }
  z->base = NULL;
  z->h = NULL;
}
