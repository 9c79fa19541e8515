/* t_files.h — file helpers shared by the tests that run the repository's
 * scripts (tests/data/...) and read what they wrote: where the repository
 * is, from wherever the test binary was started, and a whole file as a
 * string.  Test code only; the caller owns what it gets.
 */
#ifndef LOGFLEET_T_FILES_H
#define LOGFLEET_T_FILES_H

#include <stddef.h>

/* Fills root (n bytes) with $LOGFLEET_ROOT, else the nearest directory above
 * the test binary that holds probe (a path relative to the repo root, e.g.
 * "tests/data/ml/proc.py"), else the working directory. */
void t_root_find(const char *probe, char *root, size_t n);

/* The whole file as a new NUL-terminated string; "" if it cannot be opened. */
char *t_slurp(const char *path);

#endif
