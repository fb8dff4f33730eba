/*
 * Starting ngx.pipe children without fork(). libuv (and so child_process) forks the calling
 * process and waits until the child has exec'd: the fork copies the page tables of the whole
 * Node process, so a spawn costs time in proportion to its memory and blocks the event loop
 * meanwhile (on a VM with costly page-table updates, ~10 ms a spawn for a 50 MB worker).
 * posix_spawn() in glibc uses clone(CLONE_VM | CLONE_VFORK): the child borrows the parent's
 * memory until it execs, and nothing is copied, whatever the parent's size.
 *
 * The child gets three pipes as its stdin, stdout and stderr, a process group of its own in the
 * worker's session (setpgid: the worker can end it with its descendants, and it stays in the
 * worker's session, so that the kernel's autogroup schedules it with the tree, not as a session
 * weighing as much as the whole tree), every signal at its default action and none blocked (Node
 * ignores SIGPIPE, and ignored signals survive exec), and no other descriptor of the parent
 * (closefrom(3): not even one the worker inherited without close-on-exec). The program is
 * found on the PATH of the child's environment, as execvp() finds it, and a file without a
 * "#!" line is run by /bin/sh, as execvp() does.
 *
 * Its exit is followed through a pidfd polled by libuv: when it becomes readable, the child is
 * reaped (waitpid on its pid alone, so libuv's own children are never touched) and the JS
 * callback runs in the same libuv callback, as child_process emits "exit" in the callback that
 * reaped. Until then the pid cannot be reused: it stays our unreaped child.
 *
 * Any failure before the child runs (no such program, a descriptor limit, a kernel without
 * pidfd_open) is returned as an errno, and the caller falls back to child_process, which reports
 * it in its usual form.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <features.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <uv.h>

#include "napi.h"

/* A followed child: its pidfd's poll handle, and the callback to call once it exited. */
typedef struct watcher {
  uv_poll_t poll;
  int pidfd;
  pid_t pid;
  int closing; /* uv_close called; the watcher is freed by its close callback */
  napi_env env;
  napi_ref callback;
  napi_async_context async;
  struct watcher *prev, *next;
} watcher;

/* An environment that is being torn down, waiting for its watchers' close callbacks: Node runs
   its event loop, and keeps the addon loaded, until the cleanup hook is removed. */
typedef struct ending_env {
  napi_env env;
  napi_async_cleanup_hook_handle hook;
  struct ending_env *next;
} ending_env;

/* Every watcher of every environment (worker threads have their own), from follow() until its
   close callback has run, and the environments being torn down; both under one lock. */
static watcher *watchers = NULL;
static ending_env *ending = NULL;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

/*
 * The children started here and not reaped yet, for the exits that run no JavaScript, and so not
 * group.ts's exit handler (system.c: single mode's second INT or TERM, which ends a busy run; the
 * watch that ends a busy child of a master that is gone): kill_pipe_groups() SIGKILLs their groups
 * right before. Kept without a lock, in a table of fixed size, so that a signal handler may read
 * it. A number in it is an unreaped child of this process, which leads the group of its number:
 * neither the pid nor that group can be another's until the child is reaped, and it leaves the
 * table before. Past MAX_LEADERS children at once, the next are not recorded.
 */
#define MAX_LEADERS 4096
static pid_t leaders[MAX_LEADERS];

static void leader_swap(pid_t from, pid_t to) {
  for (size_t i = 0; i < MAX_LEADERS; i++) {
    pid_t expected = from; /* read first: a failed exchange still takes the line for writing */
    if (__atomic_load_n(&leaders[i], __ATOMIC_RELAXED) == from &&
        __atomic_compare_exchange_n(&leaders[i], &expected, to, 0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST))
      return;
  }
}

void kill_pipe_groups(void) {
  for (size_t i = 0; i < MAX_LEADERS; i++) {
    pid_t pid = __atomic_load_n(&leaders[i], __ATOMIC_SEQ_CST);
    if (pid > 1) kill(-pid, SIGKILL);
  }
}

static void list_add(watcher *w) {
  pthread_mutex_lock(&lock);
  w->prev = NULL;
  w->next = watchers;
  if (watchers) watchers->prev = w;
  watchers = w;
  pthread_mutex_unlock(&lock);
}

/* Whether `env` still has a watcher; the caller holds the lock. */
static int has_watchers(napi_env env) {
  for (watcher *w = watchers; w; w = w->next)
    if (w->env == env) return 1;
  return 0;
}

/* Takes `env`'s record out of `ending` if its last watcher is gone; the caller holds the lock. */
static ending_env *finished(napi_env env) {
  if (has_watchers(env)) return NULL;
  for (ending_env **at = &ending; *at; at = &(*at)->next) {
    if ((*at)->env != env) continue;
    ending_env *done = *at;
    *at = done->next;
    return done;
  }
  return NULL;
}

static void on_closed(uv_handle_t *handle) {
  watcher *w = handle->data;
  close(w->pidfd);
  pthread_mutex_lock(&lock);
  if (w->prev) w->prev->next = w->next;
  else watchers = w->next;
  if (w->next) w->next->prev = w->prev;
  ending_env *done = finished(w->env);
  pthread_mutex_unlock(&lock);
  free(w);
  if (done) {
    napi_remove_async_cleanup_hook(done->hook);
    free(done);
  }
}

static void stop(watcher *w) {
  w->closing = 1;
  uv_poll_stop(&w->poll);
  uv_close((uv_handle_t *)&w->poll, on_closed);
}

static void on_readable(uv_poll_t *handle, int status, int events) {
  watcher *w = handle->data;
  /* Looked at first, not reaped: the child leaves the table of leaders before it is reaped. */
  siginfo_t info = {0};
  int looked;
  do looked = waitid(P_PID, (id_t)w->pid, &info, WEXITED | WNOHANG | WNOWAIT);
  while (looked < 0 && errno == EINTR);
  if (looked == 0 && info.si_pid == 0) return; /* not exited yet: a spurious wakeup */
  leader_swap(w->pid, 0);
  int wstatus = 0;
  pid_t got;
  do got = waitpid(w->pid, &wstatus, WNOHANG);
  while (got < 0 && errno == EINTR);
  if (got == 0) { /* not exited after all (waitid failed): still a leader */
    leader_swap(0, w->pid);
    return;
  }
  /* -1, -1: the status is unknown (someone else reaped the child). */
  int code = -1, signo = -1;
  if (got == w->pid && WIFEXITED(wstatus)) code = WEXITSTATUS(wstatus), signo = 0;
  else if (got == w->pid && WIFSIGNALED(wstatus)) code = 0, signo = WTERMSIG(wstatus);
  napi_env env = w->env;
  napi_ref callback = w->callback;
  napi_async_context async = w->async;
  stop(w);

  napi_handle_scope scope;
  if (napi_open_handle_scope(env, &scope) != napi_ok) return;
  napi_value fn, recv, argv[2];
  if (napi_get_reference_value(env, callback, &fn) == napi_ok && fn != NULL &&
      napi_get_global(env, &recv) == napi_ok && napi_create_int32(env, code, &argv[0]) == napi_ok &&
      napi_create_int32(env, signo, &argv[1]) == napi_ok) {
    napi_make_callback(env, async, recv, fn, 2, argv, NULL);
    bool pending = false;
    if (napi_is_exception_pending(env, &pending) == napi_ok && pending) {
      napi_value error;
      if (napi_get_and_clear_last_exception(env, &error) == napi_ok) napi_fatal_exception(env, error);
    }
  }
  napi_close_handle_scope(env, scope);
  napi_delete_reference(env, callback);
  napi_async_destroy(env, async);
}

/* The environment is going away (a worker thread ends): stop following its children, and let
   Node unload the addon only once the last close callback has run. Runs on the environment's
   thread, as do the close callbacks (uv_close never calls back at once). */
static void teardown(napi_async_cleanup_hook_handle hook, void *arg) {
  ending_env *record = arg;
  record->hook = hook;
  pthread_mutex_lock(&lock);
  int any = 0;
  for (watcher *w = watchers; w; w = w->next) {
    if (w->env != record->env) continue;
    any = 1;
    if (w->closing) continue;
    /* No longer followed: it outlives the environment, as a child_process child does. */
    leader_swap(w->pid, 0);
    stop(w);
  }
  if (any) {
    record->next = ending;
    ending = record;
  }
  pthread_mutex_unlock(&lock);
  if (!any) {
    free(record);
    napi_remove_async_cleanup_hook(hook);
  }
}

/* Strings of a JS array, NULL-terminated; NULL (errno set) on a non-string or an embedded NUL. */
static char **string_array(napi_env env, napi_value array) {
  uint32_t n = 0;
  if (napi_get_array_length(env, array, &n) != napi_ok) return errno = EINVAL, NULL;
  char **out = calloc((size_t)n + 1, sizeof *out);
  if (!out) return errno = ENOMEM, NULL;
  for (uint32_t i = 0; i < n; i++) {
    napi_value item;
    size_t len = 0;
    if (napi_get_element(env, array, i, &item) != napi_ok ||
        napi_get_value_string_utf8(env, item, NULL, 0, &len) != napi_ok) {
      errno = EINVAL;
      goto fail;
    }
    out[i] = malloc(len + 1);
    if (!out[i]) {
      errno = ENOMEM;
      goto fail;
    }
    napi_get_value_string_utf8(env, item, out[i], len + 1, &len);
    if (strlen(out[i]) != len) {
      errno = EINVAL;
      goto fail;
    }
  }
  return out;
fail:
  for (uint32_t i = 0; i < n; i++) free(out[i]);
  free(out);
  return NULL;
}

static void free_array(char **a) {
  if (!a) return;
  for (char **p = a; *p; p++) free(*p);
  free(a);
}

/* Whether `path` is a file this process may execute. */
static int executable(const char *path, int *denied) {
  struct stat st;
  if (stat(path, &st) != 0 || !S_ISREG(st.st_mode)) return 0;
  if (faccessat(AT_FDCWD, path, X_OK, AT_EACCESS) == 0) return 1;
  *denied = 1;
  return 0;
}

/* execvp()'s search: `file` itself when it has a slash, else the first executable file on the
   PATH of `envp` (execvp's default when it has none). 0, or an errno. */
static int find_program(const char *file, char *const envp[], char *found, size_t cap) {
  if (file[0] == '\0') return ENOENT;
  if (strchr(file, '/')) {
    if (strlen(file) >= cap) return ENAMETOOLONG;
    strcpy(found, file);
    return 0;
  }
  const char *path = "/bin:/usr/bin";
  for (char *const *e = envp; *e; e++) {
    if (strncmp(*e, "PATH=", 5) != 0) continue;
    path = *e + 5;
    break;
  }
  int denied = 0;
  for (const char *dir = path;; dir++) {
    const char *end = strchrnul(dir, ':');
    size_t dlen = (size_t)(end - dir);
    /* An empty entry is the current directory. */
    if (dlen + 1 + strlen(file) < cap) {
      if (dlen == 0) strcpy(found, file);
      else {
        memcpy(found, dir, dlen);
        found[dlen] = '/';
        strcpy(found + dlen + 1, file);
      }
      if (executable(found, &denied)) return 0;
    }
    if (*end == '\0') break;
    dir = end;
  }
  return denied ? EACCES : ENOENT;
}

/* 0 when pidfd_open works here, else its errno. Only a kernel without it (ENOSYS) or a sandbox
   that refuses it (EPERM) is remembered: a process out of descriptors (EMFILE) or memory at its
   first spawn tries again at the next, rather than leaving every later child to child_process. */
static int pidfd_refused(void) {
  static int known = 0; /* 0 not yet, -1 works, else the errno that stays */
  if (known != 0) return known < 0 ? 0 : known;
  int fd = (int)syscall(SYS_pidfd_open, getpid(), 0);
  if (fd >= 0) {
    close(fd);
    known = -1;
    return 0;
  }
  int e = errno;
  if (e == ENOSYS || e == EPERM) known = e;
  return e;
}

static void close_pair(int p[2]) {
  if (p[0] >= 0) close(p[0]);
  if (p[1] >= 0) close(p[1]);
}

/* Starts `argv` with three pipes; 0 with the child's pid and the parent's ends, or an errno. */
static int start(const char *program, char *const argv[], char *const envp[], pid_t *pid, int fds[3]) {
  int in[2] = {-1, -1}, out[2] = {-1, -1}, err[2] = {-1, -1};
  if (pipe2(in, O_CLOEXEC) != 0 || pipe2(out, O_CLOEXEC) != 0 || pipe2(err, O_CLOEXEC) != 0) {
    int e = errno;
    close_pair(in), close_pair(out), close_pair(err);
    return e;
  }
  posix_spawn_file_actions_t actions;
  posix_spawnattr_t attr;
  sigset_t all, none;
  sigfillset(&all);
  sigemptyset(&none);
  posix_spawn_file_actions_init(&actions);
  posix_spawnattr_init(&attr);
  posix_spawn_file_actions_adddup2(&actions, in[0], 0);
  posix_spawn_file_actions_adddup2(&actions, out[1], 1);
  posix_spawn_file_actions_adddup2(&actions, err[1], 2);
#if __GLIBC_PREREQ(2, 34)
  posix_spawn_file_actions_addclosefrom_np(&actions, 3);
#endif
  posix_spawnattr_setsigdefault(&attr, &all);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setpgroup(&attr, 0);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETPGROUP);
  int e = posix_spawn(pid, program, &actions, &attr, argv, envp);
  if (e == ENOEXEC) {
    /* No "#!" line: execvp() hands such a file to the shell, with the same arguments. */
    size_t n = 0;
    while (argv[n]) n++;
    char **sh = calloc(n + 2, sizeof *sh);
    if (!sh) e = ENOMEM;
    else {
      sh[0] = "/bin/sh";
      sh[1] = (char *)program;
      for (size_t i = 1; i < n; i++) sh[i + 1] = argv[i];
      e = posix_spawn(pid, "/bin/sh", &actions, &attr, sh, envp);
      free(sh);
    }
  }
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  close(in[0]), close(out[1]), close(err[1]);
  if (e != 0) {
    close(in[1]), close(out[0]), close(err[0]);
    return e;
  }
  fds[0] = in[1], fds[1] = out[0], fds[2] = err[0];
  return 0;
}

/* Follows `pid` through a pidfd; 0, or an errno (nothing is followed then). */
static int follow(napi_env env, pid_t pid, napi_value callback) {
  int pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
  if (pidfd < 0) return errno;
  watcher *w = calloc(1, sizeof *w);
  uv_loop_t *loop = NULL;
  napi_value name, resource;
  int e = ENOMEM;
  if (!w) goto fail;
  if (napi_get_uv_event_loop(env, &loop) != napi_ok ||
      napi_create_string_utf8(env, "tsresty:pipe", NAPI_AUTO_LENGTH, &name) != napi_ok ||
      napi_create_object(env, &resource) != napi_ok || napi_async_init(env, resource, name, &w->async) != napi_ok)
    goto fail;
  if (napi_create_reference(env, callback, 1, &w->callback) != napi_ok) goto fail_async;
  e = -uv_poll_init(loop, &w->poll, pidfd);
  if (e != 0) goto fail_ref;
  w->poll.data = w; /* after uv_poll_init, which sets up the handle */
  w->pidfd = pidfd;
  w->pid = pid;
  w->env = env;
  /* Listed from here on: the close callback unlinks it and frees it, with the pidfd. */
  list_add(w);
  e = -uv_poll_start(&w->poll, UV_READABLE, on_readable);
  if (e != 0) {
    napi_delete_reference(env, w->callback);
    napi_async_destroy(env, w->async);
    stop(w);
  }
  return e;
fail_ref:
  napi_delete_reference(env, w->callback);
fail_async:
  napi_async_destroy(env, w->async);
fail:
  free(w);
  close(pidfd);
  return e;
}

/*
 * spawn(file, argv, envp, onExit) -> [pid, stdinFd, stdoutFd, stderrFd], or an errno (a number)
 * when the child could not be started. argv[0] is the program's name as it sees it; onExit(code,
 * signal) is called once: (code, 0) for an exit, (0, signal) for a signal, (-1, -1) when the
 * status could not be had.
 */
static napi_value sys_spawn(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 4) return js_fail(env, "spawn(file, argv, envp, onExit) expected");
  char file[4096], program[4096];
  size_t len = 0, whole = 0;
  /* Measured first: napi_get_value_string_utf8 cuts a longer string before the first character
     that does not fit, short of the buffer's end, and the cut name would be another program's. */
  if (napi_get_value_string_utf8(env, argv[0], NULL, 0, &whole) != napi_ok || whole >= sizeof file ||
      napi_get_value_string_utf8(env, argv[0], file, sizeof file, &len) != napi_ok || strlen(file) != len)
    return js_int(env, EINVAL);
  int e = pidfd_refused();
  if (e != 0) return js_int(env, e);
  char **args = string_array(env, argv[1]);
  char **envp = args ? string_array(env, argv[2]) : NULL;
  e = !args || !envp ? errno : find_program(file, envp, program, sizeof program);
  pid_t pid = -1;
  int fds[3];
  if (e == 0) e = start(program, args, envp, &pid, fds);
  free_array(args);
  free_array(envp);
  if (e != 0) return js_int(env, e);
  e = follow(env, pid, argv[3]);
  if (e != 0) {
    /* It runs, but its exit could not be followed: end it, and let the caller fall back. */
    kill(pid, SIGKILL);
    while (waitpid(pid, NULL, 0) < 0 && errno == EINTR) {
    }
    close(fds[0]), close(fds[1]), close(fds[2]);
    return js_int(env, e);
  }
  leader_swap(0, pid);
  napi_value out;
  CHECK(napi_create_array_with_length(env, 4, &out));
  int32_t values[4] = {pid, fds[0], fds[1], fds[2]};
  for (uint32_t i = 0; i < 4; i++) CHECK(napi_set_element(env, out, i, js_int(env, values[i])));
  return out;
}

napi_status spawn_define(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      {"spawn", NULL, sys_spawn, NULL, NULL, NULL, napi_default, NULL},
  };
  ending_env *record = calloc(1, sizeof *record);
  if (!record) return napi_generic_failure;
  record->env = env;
  napi_status status = napi_add_async_cleanup_hook(env, teardown, record, NULL);
  if (status != napi_ok) {
    free(record);
    return status;
  }
  return napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
}
