/* t.c — the test runner: registration list, fork per test, timeouts, filter.
 *
 * usage: run_tests [-u|-i] [-l] [substring ...]
 *   -u  unit tests only   -i  integration tests only   -l  list names
 * A test passes when its child exits 0 without any EXPECT failure.
 */
#include "tests/t.h"

#include <errno.h>
#include <ftw.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/lsan_interface.h>
#endif

static struct t_case *cases, **tail = &cases;
static int failed_here;
static char tmpdir[256];

void t_register(struct t_case *c)
{
    *tail = c;
    tail = &c->next;
}

void t_fail(void) { failed_here = 1; }
int t_failed(void) { return failed_here; }

const char *t_env(const char *name)
{
    const char *v = getenv(name);
    if (!v || !*v) {
        fprintf(stderr, "  missing env %s: is the stack up (tests/run)?\n", name);
        exit(1);
    }
    return v;
}

const char *t_tmpdir(void)
{
    if (!tmpdir[0]) {
        snprintf(tmpdir, sizeof tmpdir, "%s/lft.XXXXXX",
                 getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
        if (!mkdtemp(tmpdir)) {
            perror("mkdtemp");
            exit(1);
        }
    }
    return tmpdir;
}

static int rm_one(const char *p, const struct stat *sb, int flag, struct FTW *f)
{
    (void)sb, (void)flag, (void)f;
    return remove(p);
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int matches(const char *name, int argc, char **argv, int first)
{
    if (first >= argc) return 1;
    for (int i = first; i < argc; i++)
        if (strstr(name, argv[i])) return 1;
    return 0;
}

/* Runs one test in a child in its own process group; returns 1 if it passed. */
static int run_one(struct t_case *c)
{
    char dir[256];
    snprintf(dir, sizeof dir, "%s/lft.XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (!mkdtemp(dir)) return 0;
    double t0 = now_ms();
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        setpgid(0, 0);
        snprintf(tmpdir, sizeof tmpdir, "%s", dir);
        /* T_TIMEOUT_S raises every test's limit, for runs at a larger scale
         * (PIPELINE_RECORDS=1000000, ROUTER_OUTAGE_S=60, ...) */
        const char *tv = getenv("T_TIMEOUT_S");
        long tmo = tv ? strtol(tv, NULL, 10) : 0;
        alarm((unsigned)(tmo > c->timeout_s ? tmo : c->timeout_s));
        c->fn();
        fflush(NULL);
#if defined(__SANITIZE_ADDRESS__)
        /* _exit skips LeakSanitizer's atexit check: run it here (exits 23 on a leak) */
        __lsan_do_leak_check();
#endif
        _exit(t_failed() ? 1 : 0);
    }
    int st = 0;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {}
    kill(-pid, SIGKILL); /* anything the test left behind in its group */
    nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
    int ok = WIFEXITED(st) && WEXITSTATUS(st) == 0;
    if (WIFSIGNALED(st))
        fprintf(stderr, "  killed by signal %d%s\n", WTERMSIG(st),
                WTERMSIG(st) == SIGALRM ? " (timeout)" : "");
    printf("%s %s (%.0f ms)\n", ok ? "ok  " : "FAIL", c->name, now_ms() - t0);
    fflush(stdout);
    return ok;
}

int main(int argc, char **argv)
{
    int want = -1, list = 0, first = 1, pass = 0, fail = 0;
    for (; first < argc && argv[first][0] == '-'; first++) {
        if (!strcmp(argv[first], "-u")) want = 0;
        else if (!strcmp(argv[first], "-i")) want = 1;
        else if (!strcmp(argv[first], "-l")) list = 1;
        else {
            fprintf(stderr, "usage: %s [-u|-i] [-l] [filter ...]\n", argv[0]);
            return 2;
        }
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    for (struct t_case *c = cases; c; c = c->next) {
        if (want >= 0 && c->integration != want) continue;
        if (!matches(c->name, argc, argv, first)) continue;
        if (list) {
            printf("%s%s\n", c->name, c->integration ? " (integration)" : "");
            continue;
        }
        if (run_one(c)) pass++;
        else fail++;
    }
    if (!list) printf("%d passed, %d failed\n", pass, fail);
    return fail ? 1 : 0;
}
