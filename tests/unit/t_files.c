/* t_files.c — file helpers shared by the tests (see t_files.h). */
#include "tests/unit/t_files.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/mem.h"

void t_root_find(const char *probe, char *root, size_t n)
{
    const char *env = getenv("LOGFLEET_ROOT");
    if (env && *env) {
        strlcpy_(root, env, n);
        return;
    }
    char dir[PATH_MAX], path[PATH_MAX + 64];
    ssize_t len = readlink("/proc/self/exe", dir, sizeof dir - 1);
    dir[len > 0 ? len : 0] = '\0';
    for (char *slash; (slash = strrchr(dir, '/')) != NULL;) {
        *slash = '\0';
        snprintf(path, sizeof path, "%s/%s", dir, probe);
        if (access(path, R_OK) == 0) {
            strlcpy_(root, dir, n);
            return;
        }
    }
    if (!getcwd(root, n)) strlcpy_(root, ".", n);
}

char *t_slurp(const char *path)
{
    FILE *fp = fopen(path, "rb");
    if (!fp) return xstrdup("");
    char *s = NULL;
    size_t n = 0, cap = 0, r;
    char chunk[65536];
    while ((r = fread(chunk, 1, sizeof chunk, fp)) > 0) {
        if (n + r + 1 > cap) s = xrealloc(s, cap = (n + r + 1) * 2);
        memcpy(s + n, chunk, r);
        n += r;
    }
    fclose(fp);
    if (!s) return xstrdup("");
    s[n] = 0;
    return s;
}
