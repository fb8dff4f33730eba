/*
 * What Node cannot do for the master, beside the zones: send a datagram to a unix socket
 * (systemd's sd_notify protocol; Node has no AF_UNIX SOCK_DGRAM), listen on a socket without
 * accepting on it (libuv's listen always accepts), and wait for one given pid without blocking
 * (the reaper of orphans the master adopts: a blanket waitpid(-1) would take the exit status of
 * children libuv waits for), and make the master the subreaper of its tree, so that the orphans of
 * its descendants are reparented to it rather than to init (src/master/reaper.ts). The datagram
 * receiver exists for the tests, which play systemd's part. And, for single mode, let a second
 * SIGINT or SIGTERM end a process whose main thread cannot run its handlers (on_stop_signal).
 * And mark every descriptor the master was given close-on-exec, so that none reaches its children.
 * And, for the master's children, end a child whose master is gone even while its main thread is
 * busy (watch_parent).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "napi.h"

/* The longest message notify sends: systemd reads a notification of up to PIPE_BUF (4096) bytes
   and drops a longer one, with a warning in its own log only. */
#define MESSAGE_MAX 4096

/* An absolute path, or "@name" for the abstract namespace (as $NOTIFY_SOCKET writes it). */
static int unix_address(const char *path, struct sockaddr_un *sa, socklen_t *len) {
  size_t n = strlen(path);
  if (n < 2 || n >= sizeof sa->sun_path || (path[0] != '/' && path[0] != '@')) return -1;
  memset(sa, 0, sizeof *sa);
  sa->sun_family = AF_UNIX;
  memcpy(sa->sun_path, path, n);
  if (path[0] == '@') sa->sun_path[0] = '\0';
  /* An abstract name is exactly its bytes; a path is NUL-terminated. */
  *len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + (path[0] == '@' ? 0 : 1));
  return 0;
}

/* A string argument's UTF-8 bytes into `buf` (`cap` bytes, NUL-terminated): its length, -1 when it
   is not a string, -2 when it has more than cap - 1 bytes (`*whole` says how many). Measured first:
   napi_get_value_string_utf8 cuts a longer string without a word, before the first character
   that does not fit, so a cut string can be shorter than cap - 1 and pass for a whole one. */
static long read_string(napi_env env, napi_value v, char *buf, size_t cap, size_t *whole) {
  size_t len = 0;
  if (napi_get_value_string_utf8(env, v, NULL, 0, whole) != napi_ok) return -1;
  if (*whole > cap - 1) return -2;
  return napi_get_value_string_utf8(env, v, buf, cap, &len) == napi_ok ? (long)len : -1;
}

#define ADDRESS_CAP (sizeof(((struct sockaddr_un *)0)->sun_path) + 1)

/* The socket address argument, as written into `path` (ADDRESS_CAP bytes); 0 (with an exception
   pending) when it is not one. */
static int address_arg(napi_env env, const char *call, napi_value v, struct sockaddr_un *sa, socklen_t *len,
                       char *path) {
  size_t whole = 0;
  long got = read_string(env, v, path, ADDRESS_CAP, &whole);
  /* A NUL inside would end the path early: another socket's. */
  if (got >= 0 && strlen(path) == (size_t)got && unix_address(path, sa, len) == 0) return 1;
  char text[160];
  snprintf(text, sizeof text, "%s: the socket must be an absolute path or an @name, of 2 to %zu bytes without NUL",
           call, ADDRESS_CAP - 2);
  js_fail(env, text);
  return 0;
}

/* The first `n` arguments of a call (undefined where not given); 0 with an exception pending when
   they cannot be had. */
static int args(napi_env env, napi_callback_info info, size_t n, napi_value *argv) {
  size_t argc = n;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) == napi_ok) return 1;
  js_throw_last(env, "napi_get_cb_info");
  return 0;
}

/* A call's one integer argument, read as js_int_arg reads it (never wrapped into int32). */
static int int_arg(napi_env env, napi_callback_info info, const char *call, const char *name, int64_t min,
                   int64_t max, int64_t *out) {
  napi_value argv[1];
  return args(env, info, 1, argv) && js_int_arg(env, argv[0], call, name, min, max, out);
}

static napi_value error_text(napi_env env, const char *what, int err) {
  char text[256];
  snprintf(text, sizeof text, "%s: %s", what, strerror(err));
  napi_value out;
  CHECK(napi_create_string_utf8(env, text, NAPI_AUTO_LENGTH, &out));
  return out;
}

/* notify(socketPath, message) -> undefined when sent, null when the receiver's queue is full
   (nothing sent: try again later), else the error as text. It never waits: a receiver that does
   not read (its queue holds net.unix.max_dgram_qlen datagrams, 10 by default) would hold the
   caller, the master's event loop, for as long as it does not. */
static napi_value sys_notify(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  char message[MESSAGE_MAX + 1], path[ADDRESS_CAP];
  struct sockaddr_un sa;
  socklen_t sa_len = 0;
  if (argc < 2) return js_fail(env, "notify: a socket and a message expected");
  if (!address_arg(env, "notify", argv[0], &sa, &sa_len, path)) return NULL;
  size_t whole = 0;
  long len = read_string(env, argv[1], message, sizeof message, &whole);
  if (len == -1) return js_fail(env, "notify: the message must be a string");
  if (len < 0) {
    char text[128];
    snprintf(text, sizeof text, "notify: the message must be of at most %d bytes (UTF-8), not %zu", MESSAGE_MAX,
             whole);
    return js_fail(env, text);
  }
  int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return error_text(env, "socket", errno);
  ssize_t sent;
  do sent = sendto(fd, message, (size_t)len, MSG_NOSIGNAL | MSG_DONTWAIT, (struct sockaddr *)&sa, sa_len);
  while (sent < 0 && errno == EINTR);
  int err = errno;
  close(fd);
  if (sent >= 0) return NULL;
  if (err != EAGAIN && err != EWOULDBLOCK) return error_text(env, "sendto", err);
  napi_value full;
  CHECK(napi_get_null(env, &full));
  return full;
}

/* reap(pid) -> pid when it was a zombie and is reaped now, 0 when it still runs, -1 otherwise */
static napi_value sys_reap(napi_env env, napi_callback_info info) {
  int64_t pid = 0;
  /* Not 1 (init), nor 0 or -1: any child of a group, any child at all. */
  if (!int_arg(env, info, "reap", "pid", 2, INT32_MAX, &pid)) return NULL;
  int status = 0;
  pid_t got;
  do got = waitpid((pid_t)pid, &status, WNOHANG);
  while (got < 0 && errno == EINTR);
  return js_int(env, got < 0 ? -1 : (int32_t)got);
}

/* subreaper() -> 0 once this process is a child subreaper (Linux 3.4+), else the errno: the orphans
   of its descendants are then reparented to it, not to init, and it must reap them */
static napi_value sys_subreaper(napi_env env, napi_callback_info info) {
  (void)info;
  return js_int(env, prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0 ? 0 : errno);
}

/* listen(fd, backlog) -> 0, or the errno: puts a bound socket into the listening state without
   libuv watching it (the master listens and never accepts; its workers accept) */
static napi_value sys_listen(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  int64_t fd = -1, backlog = 0;
  if (!args(env, info, 2, argv) || !js_int_arg(env, argv[0], "listen", "fd", 0, INT32_MAX, &fd) ||
      !js_int_arg(env, argv[1], "listen", "backlog", 0, INT32_MAX, &backlog))
    return NULL;
  return js_int(env, listen((int)fd, (int)backlog) == 0 ? 0 : errno);
}

/* datagramBind(path) -> fd of a non-blocking datagram socket bound there (tests) */
static napi_value sys_datagram_bind(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  char path[ADDRESS_CAP], what[ADDRESS_CAP + 32];
  struct sockaddr_un sa;
  socklen_t sa_len = 0;
  if (argc < 1) return js_fail(env, "datagramBind: a socket expected");
  if (!address_arg(env, "datagramBind", argv[0], &sa, &sa_len, path)) return NULL;
  snprintf(what, sizeof what, "datagramBind %s", path);
  int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) return js_fail_with(env, what, errno);
  if (bind(fd, (struct sockaddr *)&sa, sa_len) != 0) {
    int err = errno;
    close(fd);
    return js_fail_with(env, what, err);
  }
  return js_int(env, fd);
}

/* The descriptor argument of `call`, a unix datagram socket; 0 (with an exception pending) when it
   is not one: the tests' receiver reads and closes nothing else (a descriptor of Node's). */
static int datagram_arg(napi_env env, napi_callback_info info, const char *call, int *fd) {
  int64_t n = -1;
  /* A negative number is read, to be refused below as no such socket. */
  if (!int_arg(env, info, call, "fd", INT32_MIN, INT32_MAX, &n)) return 0;
  *fd = (int)n;
  int domain = 0, type = 0;
  socklen_t size = sizeof domain;
  int ok = getsockopt(*fd, SOL_SOCKET, SO_DOMAIN, &domain, &size) == 0 && domain == AF_UNIX;
  size = sizeof type;
  ok = ok && getsockopt(*fd, SOL_SOCKET, SO_TYPE, &type, &size) == 0 && type == SOCK_DGRAM;
  if (ok) return 1;
  char text[96];
  snprintf(text, sizeof text, "%s: descriptor %d is not a unix datagram socket", call, *fd);
  js_fail(env, text);
  return 0;
}

/* datagramReceive(fd) -> the next datagram as text, or null when none waits (tests) */
static napi_value sys_datagram_receive(napi_env env, napi_callback_info info) {
  int fd = -1;
  if (!datagram_arg(env, info, "datagramReceive", &fd)) return NULL;
  char buf[MESSAGE_MAX];
  ssize_t got;
  do got = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
  while (got < 0 && errno == EINTR);
  if (got < 0) {
    if (errno == EAGAIN || errno == EWOULDBLOCK) return NULL;
    return js_fail_with(env, "datagramReceive: recv", errno);
  }
  napi_value out;
  CHECK(napi_create_string_utf8(env, buf, (size_t)got, &out));
  return out;
}

/* datagramClose(fd) (tests) */
static napi_value sys_datagram_close(napi_env env, napi_callback_info info) {
  int fd = -1;
  if (!datagram_arg(env, info, "datagramClose", &fd)) return NULL;
  close(fd);
  return NULL;
}

/*
 * A second SIGINT or SIGTERM ends the process at once, with exit status 128 + the signal, for
 * single mode. Its JavaScript handlers (exit 130 or 143) run on the main thread, after libuv's
 * signal handler has written to the event loop's pipe: while the main thread is busy
 * (`while (true) {}`) or blocked (a read of a FIFO), they never ran, and the process outlived
 * every INT and TERM; only SIGKILL ended it. The first signal still goes to libuv (the handler
 * that was there is called from this one), so a process that can answer it does so as before.
 */
static struct sigaction chained_int, chained_term;
/* The stop signals since the main thread last answered one (stopSignalAnswered). */
static volatile sig_atomic_t stop_signals = 0;

static void on_stop_signal(int sig, siginfo_t *info, void *context) {
  if (stop_signals++ > 0) {
    /* group.ts's exit handler, which ends the run's pipe children, will not run. */
    kill_pipe_groups();
    _exit(128 + sig);
  }
  const struct sigaction *next = sig == SIGINT ? &chained_int : &chained_term;
  if (next->sa_flags & SA_SIGINFO)
    next->sa_sigaction(sig, info, context);
  else
    next->sa_handler(sig);
}

/* Puts on_stop_signal before the handler of `sig`; 0, or the errno (EINVAL: the signal is ignored).
   A signal at its default action needs none: the first one ends the process (the process has no
   listener for it: an app removed them all). */
static int chain_stop_signal(int sig, struct sigaction *chained) {
  struct sigaction now;
  if (sigaction(sig, NULL, &now) != 0) return errno;
  if (now.sa_flags & SA_SIGINFO) {
    if (now.sa_sigaction == on_stop_signal) return 0; /* chained already */
  } else if (now.sa_handler == SIG_DFL) {
    return 0;
  } else if (now.sa_handler == SIG_IGN) {
    return EINVAL;
  }
  *chained = now;
  struct sigaction ours = now;
  ours.sa_flags |= SA_SIGINFO;
  ours.sa_sigaction = on_stop_signal;
  return sigaction(sig, &ours, NULL) == 0 ? 0 : errno;
}

/* exitOnSecondStopSignal() -> 0, or the errno: see on_stop_signal. Call it once the process's own
   INT and TERM handlers are in place (its chain holds them), and again whenever libuv may have put
   its handler in place anew (a signal's first listener, after its last one was removed): the call
   chains on_stop_signal before it again, and does nothing where it is still in place. */
static napi_value sys_exit_on_second_stop_signal(napi_env env, napi_callback_info info) {
  (void)info;
  /* Each whatever became of the other. */
  int failed = chain_stop_signal(SIGINT, &chained_int);
  int term = chain_stop_signal(SIGTERM, &chained_term);
  return js_int(env, failed != 0 ? failed : term);
}

/* stopSignalAnswered(): the main thread runs a stop signal's listeners, so it is not kept from
   answering: the signal after it counts as a first one again (a process that took INT over with
   its own listener, and is not busy, gets each INT). */
static napi_value sys_stop_signal_answered(napi_env env, napi_callback_info info) {
  (void)env;
  (void)info;
  stop_signals = 0;
  return NULL;
}

/*
 * An abort (a fatal error: V8's heap out of memory, a failed assertion, process.abort()) runs no
 * JavaScript on the way out, and so not group.ts's exit handler: in single mode, where no master is
 * left to end them, the run's pipe children ran on. This handler ends their groups (spawn.c) when
 * the SIGABRT will end the process: one it raised itself (abort(): SI_TKILL from its own pid, which
 * abort() turns to the default action if a handler returns), or any while the action it replaced is
 * the default. A SIGABRT sent from outside to a process whose app listens for it ends nothing.
 */
static struct sigaction chained_abort;

static void on_abort(int sig, siginfo_t *info, void *context) {
  int chained_default = !(chained_abort.sa_flags & SA_SIGINFO) && chained_abort.sa_handler == SIG_DFL;
  if (chained_default || (info != NULL && info->si_code == SI_TKILL && info->si_pid == getpid()))
    kill_pipe_groups();
  if (chained_abort.sa_flags & SA_SIGINFO) {
    chained_abort.sa_sigaction(sig, info, context);
  } else if (chained_default) {
    /* As before: the default action, once this handler returns (the signal is blocked meanwhile). */
    struct sigaction dfl = {.sa_handler = SIG_DFL};
    sigemptyset(&dfl.sa_mask);
    sigaction(sig, &dfl, NULL);
    raise(sig);
  } else if (chained_abort.sa_handler != SIG_IGN) {
    chained_abort.sa_handler(sig);
  }
}

/* endPipeGroupsOnAbort() -> 0, or the errno: puts on_abort before SIGABRT's action (once). */
static napi_value sys_end_pipe_groups_on_abort(napi_env env, napi_callback_info info) {
  (void)info;
  struct sigaction now;
  if (sigaction(SIGABRT, NULL, &now) != 0) return js_int(env, errno);
  if ((now.sa_flags & SA_SIGINFO) && now.sa_sigaction == on_abort) return js_int(env, 0);
  chained_abort = now;
  struct sigaction ours = now;
  ours.sa_flags |= SA_SIGINFO;
  ours.sa_sigaction = on_abort;
  return js_int(env, sigaction(SIGABRT, &ours, NULL) == 0 ? 0 : errno);
}

#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

/* closeOnExecFrom(first) -> 0, or the errno: every descriptor from `first` up gets FD_CLOEXEC, so
   that what the process was given (an open file of root's, a pipe of the shell's) is not passed on
   to the processes it starts; those it means to pass it gives them explicitly (spawn's stdio,
   which dup2s them into place and so clears the flag). close_range(2) with CLOSE_RANGE_CLOEXEC
   (Linux 5.11), else each descriptor in /proc/self/fd. */
static napi_value sys_close_on_exec_from(napi_env env, napi_callback_info info) {
  int64_t first = 0;
  if (!int_arg(env, info, "closeOnExecFrom", "first", 0, INT32_MAX, &first)) return NULL;
#ifdef SYS_close_range
  if (syscall(SYS_close_range, (unsigned)first, ~0U, CLOSE_RANGE_CLOEXEC) == 0) return js_int(env, 0);
#endif
  DIR *dir = opendir("/proc/self/fd");
  if (dir == NULL) return js_int(env, errno);
  int failed = 0;
  struct dirent *entry;
  while ((entry = readdir(dir)) != NULL) {
    if (entry->d_name[0] < '0' || entry->d_name[0] > '9') continue;
    int fd = atoi(entry->d_name);
    if (fd < first || fd == dirfd(dir)) continue;
    int flags = fcntl(fd, F_GETFD);
    if (flags >= 0 && !(flags & FD_CLOEXEC) && fcntl(fd, F_SETFD, flags | FD_CLOEXEC) < 0) failed = errno;
  }
  closedir(dir);
  return js_int(env, failed);
}

/*
 * A child of the master leaves when the master is gone: on "disconnect" its JavaScript exits at
 * once (and ends its pipe groups, docs/pipe.md). A child whose main thread is busy (a request
 * handler or an init() that loops, a long synchronous computation) never ran that handler: it
 * outlived a SIGKILLed master for as long as it was busy, forever for a loop, holding the zones
 * and the listening sockets. This thread sleeps until the master is gone and then SIGKILLs the
 * process after `grace` milliseconds, which a child that can answer the disconnect never reaches.
 * It sleeps in poll() on a pidfd of the master (pidfd_open, Linux 5.3), which becomes readable
 * when the master exits, so it wakes once in the process's life; where pidfd_open fails (an older
 * kernel, a sandbox that refuses it) it looks every WATCH_NS whether the parent is still the master
 * (a dead master's children are reparented). The pidfd is opened before the parent is checked, so
 * a master already gone when the thread starts is not waited for (its pid may be another
 * process's by then). A stopped child (SIGSTOP) stops this thread too: the master's death sends it
 * SIGCONT (PR_SET_PDEATHSIG, which changes nothing in a running process), and it then leaves as
 * the others do. A parent-death signal that kills, as SIGKILL, would leave no time for the child's
 * own exit; and any is cleared when the process changes its user (arm this after the drop).
 */
#define WATCH_NS (200 * 1000 * 1000)
static pid_t watched_parent;
static int32_t watch_grace_ms;

static void *watch_parent(void *arg) {
  (void)arg;
  int master = (int)syscall(SYS_pidfd_open, watched_parent, 0);
  if (master >= 0 && getppid() != watched_parent) {
    close(master);
  } else if (master >= 0) {
    struct pollfd exited = {.fd = master, .events = POLLIN, .revents = 0};
    while (poll(&exited, 1, -1) < 0 && errno == EINTR) {
    }
    /* Left open: the process ends within the grace, and if the app closed this number while the
       thread waited (poll's POLLNVAL), it may be another file's by now. */
  }
  /* The master is gone, or this is the fallback (no pidfd, or a poll that failed). */
  const struct timespec step = {0, WATCH_NS};
  while (getppid() == watched_parent) nanosleep(&step, NULL);
  struct timespec grace = {watch_grace_ms / 1000, (long)(watch_grace_ms % 1000) * 1000000L};
  while (nanosleep(&grace, &grace) != 0 && errno == EINTR) {
  }
  /* The pipe children go first: the master that would end them is gone, and so will this be. */
  kill_pipe_groups();
  kill(getpid(), SIGKILL);
  return NULL;
}

/* exitWithParent(parentPid, graceMs) -> 0, or the errno: starts watch_parent (once a process). */
static napi_value sys_exit_with_parent(napi_env env, napi_callback_info info) {
  static int started = 0;
  napi_value argv[2];
  int64_t parent = 0, grace = 0;
  if (!args(env, info, 2, argv) || !js_int_arg(env, argv[0], "exitWithParent", "parentPid", 1, INT32_MAX, &parent) ||
      !js_int_arg(env, argv[1], "exitWithParent", "graceMs", 0, INT32_MAX, &grace))
    return NULL;
  if (started) return js_int(env, 0);
  if (prctl(PR_SET_PDEATHSIG, SIGCONT, 0, 0, 0) != 0) return js_int(env, errno);
  watched_parent = (pid_t)parent;
  watch_grace_ms = (int32_t)grace;
  /* The thread takes no signal: those for the process go to the threads that handle them. */
  sigset_t all, previous;
  sigfillset(&all);
  pthread_sigmask(SIG_BLOCK, &all, &previous);
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
  pthread_attr_setstacksize(&attr, 64 * 1024);
  pthread_t thread;
  int failed = pthread_create(&thread, &attr, watch_parent, NULL);
  pthread_attr_destroy(&attr);
  pthread_sigmask(SIG_SETMASK, &previous, NULL);
  if (failed == 0) started = 1;
  return js_int(env, failed);
}

napi_status sys_define(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      {"notify", NULL, sys_notify, NULL, NULL, NULL, napi_default, NULL},
      {"reap", NULL, sys_reap, NULL, NULL, NULL, napi_default, NULL},
      {"subreaper", NULL, sys_subreaper, NULL, NULL, NULL, napi_default, NULL},
      {"listen", NULL, sys_listen, NULL, NULL, NULL, napi_default, NULL},
      {"datagramBind", NULL, sys_datagram_bind, NULL, NULL, NULL, napi_default, NULL},
      {"datagramReceive", NULL, sys_datagram_receive, NULL, NULL, NULL, napi_default, NULL},
      {"datagramClose", NULL, sys_datagram_close, NULL, NULL, NULL, napi_default, NULL},
      {"exitOnSecondStopSignal", NULL, sys_exit_on_second_stop_signal, NULL, NULL, NULL, napi_default, NULL},
      {"endPipeGroupsOnAbort", NULL, sys_end_pipe_groups_on_abort, NULL, NULL, NULL, napi_default, NULL},
      {"stopSignalAnswered", NULL, sys_stop_signal_answered, NULL, NULL, NULL, napi_default, NULL},
      {"closeOnExecFrom", NULL, sys_close_on_exec_from, NULL, NULL, NULL, napi_default, NULL},
      {"exitWithParent", NULL, sys_exit_with_parent, NULL, NULL, NULL, napi_default, NULL},
  };
  return napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
}
