/*
 * A shard's lock: one 32-bit word in the zone, and nothing else there.
 *
 * The word is 0 when the shard is free, else the holder's pid, with LOCK_WAITERS set once a
 * locker sleeps on it (a futex shared by every process that maps the zone). Nothing read from
 * the word is ever used as an address: a process that writes into the zone can make the lock
 * wrong (block every process on the shard, or let two in at once, which the shard's checks then
 * meet as corrupt data), but cannot steer another process's memory through it. (glibc's robust
 * mutex, used before, linked itself into the holder's robust list through pointers kept in the
 * zone, which its unlock followed: see native/README.md.)
 *
 * A holder that dies leaves its pid in the word. A locker that has waited LOCK_CHECK_NS
 * without the word changing looks whether that pid is still a process (kill(pid, 0); a zombie,
 * dead but not yet reaped, is gone too when /proc shows it) and, when it is not, takes the word
 * over and reports SHD_OWNER_DIED so that the caller repairs the shard. A pid reused by a new
 * process before a locker looks would keep the lock held until that process ends; Linux hands
 * pids out in turn up to pid_max (32,768 or more), so a pid comes back only after that many
 * forks, and a waiter looks every LOCK_CHECK_NS.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "shard.h"

#define LOCK_WAITERS 0x80000000u
#define LOCK_PID 0x7fffffffu
/* How long a sleeping locker waits before it looks whether the holder is alive. */
#define LOCK_CHECK_NS (10 * 1000 * 1000)
/* Spins before sleeping: critical sections last a few hundred nanoseconds, while a futex sleep
   and wake cost microseconds each and would make two busy processes slower than one. */
#define LOCK_SPINS 2000

static uint32_t own_pid;

static void forget_pid(void) { own_pid = 0; }

static void watch_forks(void) { pthread_atfork(NULL, NULL, forget_pid); }

/* This process's pid, read once (and again in a child forked without exec). */
uint32_t shd_my_pid(void) {
  if (__builtin_expect(own_pid == 0, 0)) {
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, watch_forks);
    own_pid = (uint32_t)getpid() & LOCK_PID;
  }
  return own_pid;
}

static long futex(uint32_t *word, int op, uint32_t value, const struct timespec *timeout) {
  return syscall(SYS_futex, word, op, value, timeout, NULL, 0);
}

/* Whether process `pid` has ended (a zombie has: it runs no more code). */
int shd_pid_gone(uint32_t pid) {
  if (pid == 0 || pid == shd_my_pid()) return pid == 0;
  if (kill((pid_t)pid, 0) != 0) return errno == ESRCH;
  char path[32], stat[256];
  snprintf(path, sizeof path, "/proc/%u/stat", pid);
  /* A process this one may signal but not see: /proc mounted with hidepid=2 (systemd's
     ProtectProc=invisible) hides a process that is not dumpable, as a worker that dropped to
     config.user is, even from its own user (ENOENT). It is there (kill said so): not gone. One
     that ended since is found by the next look (ESRCH); a hidden zombie, once its parent reaps it. */
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  ssize_t n = read(fd, stat, sizeof stat - 1);
  close(fd);
  if (n <= 0) return 0;
  stat[n] = 0;
  /* "pid (comm) S ...": the state follows the last ')' (comm may hold any character). */
  char *end = NULL;
  for (char *p = stat; *p; p++)
    if (*p == ')') end = p;
  return end != NULL && end[1] == ' ' && (end[2] == 'Z' || end[2] == 'X');
}

static inline int take(uint32_t *word, uint32_t expected, uint32_t desired) {
  return __atomic_compare_exchange_n(word, &expected, desired, 0, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED);
}

int shd_lock_word(uint32_t *word) {
  uint32_t pid = shd_my_pid();
  if (take(word, 0, pid)) return 0;
  for (int spins = 0; spins < LOCK_SPINS; spins++) {
    if (__atomic_load_n(word, __ATOMIC_RELAXED) == 0 && take(word, 0, pid)) return 0;
    shd_cpu_relax();
  }
  for (;;) {
    uint32_t seen = __atomic_load_n(word, __ATOMIC_RELAXED);
    /* Taken with LOCK_WAITERS: other lockers may sleep, and this one's unlock wakes one. */
    if (seen == 0) {
      if (take(word, 0, pid | LOCK_WAITERS)) return 0;
      continue;
    }
    if (!(seen & LOCK_WAITERS)) {
      if (!take(word, seen, seen | LOCK_WAITERS)) continue;
      seen |= LOCK_WAITERS;
    }
    const struct timespec wait = {0, LOCK_CHECK_NS};
    if (futex(word, FUTEX_WAIT, seen, &wait) == 0 || errno != ETIMEDOUT) continue;
    if (__atomic_load_n(word, __ATOMIC_RELAXED) == seen && shd_pid_gone(seen & LOCK_PID) &&
        take(word, seen, pid | LOCK_WAITERS))
      return SHD_OWNER_DIED;
  }
}

void shd_unlock_word(uint32_t *word) {
  uint32_t was = __atomic_exchange_n(word, 0, __ATOMIC_RELEASE);
  if (was & LOCK_WAITERS) futex(word, FUTEX_WAKE, 1, NULL);
}
