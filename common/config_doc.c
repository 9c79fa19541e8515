/* config_doc.c — writing configuration out, from the table: config_print
 * (libconfig syntax that config_load reads back, secrets as "***") and
 * config_doc_markdown (docs/config.md).
 */
#include "common/config.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

static const void *cfield(const void *obj, size_t off)
{
    return (const char *)obj + off;
}

static void indent(FILE *f, int depth)
{
    fprintf(f, "%*s", 2 * depth, "");
}

/* A libconfig string literal. */
static void put_quoted(FILE *f, const char *s)
{
    fputc('"', f);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') fprintf(f, "\\%c", c);
        else if (c == '\n') fputs("\\n", f);
        else if (c == '\t') fputs("\\t", f);
        else if (c == '\r') fputs("\\r", f);
        else if (c == '\f') fputs("\\f", f);
        else if (c < 0x20 || c == 0x7f) fprintf(f, "\\x%02x", c);
        else fputc(c, f);
    }
    fputc('"', f);
}

/* A double libconfig reads back as a float, exactly. */
static void put_double(FILE *f, double v)
{
    char s[40];
    snprintf(s, sizeof s, "%.15g", v);
    if (strtod(s, NULL) != v) snprintf(s, sizeof s, "%.17g", v);
    fprintf(f, "%s%s", s, strpbrk(s, ".eE") ? "" : ".0");
}

static void print_table(FILE *f, const struct config_table *t, const void *obj, int depth);

static void print_value(FILE *f, const struct config_entry *en, const void *obj, int depth)
{
    const void *p = cfield(obj, en->offset);
    size_t n = en->count_offset ? *(const size_t *)cfield(obj, en->count_offset) : 0;
    switch (en->kind) {
    case CONFIG_KIND_STRING: {
        const char *s = *(char *const *)p;
        put_quoted(f, (en->flags & CONFIG_F_SECRET) && *s ? "***" : s);
        break;
    }
    case CONFIG_KIND_INT:
    case CONFIG_KIND_DURATION: fprintf(f, "%d", *(const int *)p); break;
    case CONFIG_KIND_INT64: fprintf(f, "%" PRId64 "L", *(const int64_t *)p); break;
    case CONFIG_KIND_BOOL: fputs(*(const bool *)p ? "true" : "false", f); break;
    case CONFIG_KIND_DOUBLE: put_double(f, *(const double *)p); break;
    case CONFIG_KIND_ENUM: put_quoted(f, en->values[*(const int *)p]); break;
    case CONFIG_KIND_STRINGS:
        fputc('[', f);
        for (size_t i = 0; i < n; i++) {
            if (i) fputs(", ", f);
            put_quoted(f, (*(char **const *)p)[i]);
        }
        fputc(']', f);
        break;
    case CONFIG_KIND_GROUPS:
        fputs("(", f);
        for (size_t i = 0; i < n; i++) {
            fprintf(f, "%s\n", i ? "," : "");
            indent(f, depth + 1);
            fputs("{\n", f);
            print_table(f, en->sub, *(const char *const *)p + i * en->sub->size, depth + 2);
            indent(f, depth + 1);
            fputs("}", f);
        }
        if (n) {
            fputc('\n', f);
            indent(f, depth);
        }
        fputs(")", f);
        break;
    }
}

/* Length of the group part of a key ("aws" of "aws.region"; 0 for none). */
static size_t group_len(const char *name)
{
    const char *dot = strrchr(name, '.');
    return dot ? (size_t)(dot - name) : 0;
}

static int count_parts(const char *s, size_t n)
{
    int k = n ? 1 : 0;
    for (size_t i = 0; i < n; i++) k += s[i] == '.';
    return k;
}

/* Closes the groups of `open` (olen chars) not on the way to `want` (wlen)
 * and opens the rest of `want`; the table keeps a group's keys together. */
static void move_groups(FILE *f, const char *open, size_t olen, const char *want, size_t wlen,
                        int depth)
{
    size_t common = 0; /* chars of whole shared components */
    for (size_t i = 0; i <= olen && i <= wlen; i++) {
        bool end_o = i == olen || open[i] == '.', end_w = i == wlen || want[i] == '.';
        if (end_o && end_w) common = i;
        if (i == olen || i == wlen || open[i] != want[i]) break;
    }
    for (int k = count_parts(open, olen); k > count_parts(open, common); k--) {
        indent(f, depth + k - 1);
        fputs("};\n", f);
    }
    for (size_t i = common ? common + 1 : 0; i < wlen;) {
        size_t len = strcspn(want + i, ".");
        if (i + len > wlen) len = wlen - i;
        indent(f, depth + count_parts(want, i ? i - 1 : 0));
        fprintf(f, "%.*s = {\n", (int)len, want + i);
        i += len + 1;
    }
}

static void print_table(FILE *f, const struct config_table *t, const void *obj, int depth)
{
    const char *open = "";
    size_t olen = 0;
    for (size_t i = 0; i < t->n; i++) {
        const struct config_entry *en = &t->entries[i];
        size_t glen = group_len(en->name);
        move_groups(f, open, olen, en->name, glen, depth);
        open = en->name, olen = glen;
        indent(f, depth + count_parts(en->name, glen));
        fprintf(f, "%s = ", en->name + (glen ? glen + 1 : 0));
        print_value(f, en, obj, depth + count_parts(en->name, glen));
        fputs(";\n", f);
    }
    move_groups(f, open, olen, "", 0, depth);
}

int config_print(FILE *f, const struct lf_config *c)
{
    fputs("# logfleet configuration, as loaded (secrets shown as \"***\")\n", f);
    print_table(f, config_table(), c, 0);
    return ferror(f) ? -1 : 0;
}

/* ---- Markdown reference ----------------------------------------------- */

static const char *kind_name(const struct config_entry *en)
{
    switch (en->kind) {
    case CONFIG_KIND_STRING: return "string";
    case CONFIG_KIND_INT: return "integer";
    case CONFIG_KIND_INT64: return "integer (64-bit)";
    case CONFIG_KIND_BOOL: return "boolean";
    case CONFIG_KIND_DOUBLE: return "number";
    case CONFIG_KIND_ENUM: return "enum";
    case CONFIG_KIND_DURATION: return "duration (ms)";
    case CONFIG_KIND_STRINGS: return "list of strings";
    case CONFIG_KIND_GROUPS: return "list of groups";
    }
    return "?";
}

/* Text inside a table cell: a '|' would end the cell; plain (not Markdown)
 * text also escapes what would start emphasis. */
static void put_cell(FILE *f, const char *s, bool plain)
{
    for (; *s; s++) {
        if (*s == '|' || (plain && (*s == '_' || *s == '*'))) fprintf(f, "\\%c", *s);
        else if (*s == '\n') fputc(' ', f);
        else fputc(*s, f);
    }
}

static void put_default(FILE *f, const struct config_entry *en)
{
    if (en->flags & CONFIG_F_REQUIRED) fputs("**required**", f);
    else if (en->kind == CONFIG_KIND_STRING || en->kind == CONFIG_KIND_ENUM)
        fprintf(f, "`\"%s\"`", en->def ? en->def : "");
    else if (en->kind == CONFIG_KIND_STRINGS || en->kind == CONFIG_KIND_GROUPS)
        fputs(en->def ? en->def : "empty", f);
    else fprintf(f, "`%s`", en->def ? en->def : "0");
}

static void put_allowed(FILE *f, const struct config_entry *en)
{
    switch (en->kind) {
    case CONFIG_KIND_INT:
    case CONFIG_KIND_INT64:
    case CONFIG_KIND_DURATION:
        fprintf(f, "%lld … %lld", (long long)en->min, (long long)en->max);
        break;
    case CONFIG_KIND_DOUBLE: fprintf(f, "%g … %g", en->dmin, en->dmax); break;
    case CONFIG_KIND_ENUM:
        for (size_t i = 0; en->values[i]; i++) fprintf(f, "%s`%s`", i ? ", " : "", en->values[i]);
        break;
    case CONFIG_KIND_STRING:
    case CONFIG_KIND_STRINGS:
        if (en->check) put_cell(f, en->check->expect, true);
        break;
    default: break;
    }
}

static void put_row(FILE *f, const char *key, const struct config_entry *en, const char *env)
{
    fprintf(f, "| `%s` | %s%s | ", key, kind_name(en),
            en->flags & CONFIG_F_SECRET ? ", secret" : "");
    put_default(f, en);
    fputs(" | ", f);
    put_allowed(f, en);
    fprintf(f, " | %s | ", env);
    put_cell(f, en->help, false);
    fputs(" |\n", f);
}

/* The heading and text of a group, from config_group_docs. */
static void put_heading(FILE *f, const char *group)
{
    size_t n;
    const struct config_group_doc *g = config_group_docs(&n);
    for (size_t i = 0; i < n; i++) {
        if (strcmp(g[i].name, group)) continue;
        if (*group) fprintf(f, "\n## `%s` — %s\n\n%s\n\n", group, g[i].title, g[i].help);
        else fprintf(f, "\n## %s\n\n%s\n\n", g[i].title, g[i].help);
        return;
    }
    fprintf(f, "\n## `%s`\n\n", group);
}

static const char table_head[] = "| Key | Type | Default | Allowed | Environment | Description |\n"
                                 "|---|---|---|---|---|---|\n";

static void put_groups_entry(FILE *f, const struct config_entry *en)
{
    char env[128], key[128];
    config_env_name(en, env, sizeof env);
    put_heading(f, en->name);
    fprintf(f, "`%s` replaces the whole list; its value is the list in the same syntax, "
               "from `(` to `)`.\n\n%s", env, table_head);
    for (size_t i = 0; i < en->sub->n; i++) {
        snprintf(key, sizeof key, "%s[].%s", en->name, en->sub->entries[i].name);
        put_row(f, key, &en->sub->entries[i], "—");
    }
}

static const char intro[] =
    "# logfleet configuration reference\n\n"
    "<!-- Generated by `logfleetctl config-doc` from the table in common/config.c; "
    "edit that, not this file. -->\n\n"
    "`logfleetd` and `logfleetctl` read one file in "
    "[libconfig](https://hyperrealm.github.io/libconfig/) syntax, named with `-c FILE` "
    "(or `$LOGFLEET_CONF`). A key `aws.region` is written inside its group:\n\n"
    "    aws = {\n"
    "      region = \"eu-west-1\";\n"
    "      max_attempts = 8;\n"
    "    };\n\n"
    "Each value comes from, in rising precedence: the default below, the file, and the "
    "environment variable in the *Environment* column (`LOGFLEET_` and the key in upper "
    "case, dots as underscores), so secrets can stay out of the file. Environment values "
    "are checked like file values: booleans are `true`/`false` (also `yes`/`no`, `on`/`off`, "
    "`1`/`0`), lists of strings are comma-separated, a list of groups is written in libconfig "
    "syntax. With no file at all, everything comes from the environment.\n\n"
    "Rules: an unknown key is an error (with the nearest known key suggested); every error "
    "names the file and line (or the variable), the key and what was expected. Integers "
    "beyond 32 bits need an `L` suffix (`1700000000000L`), because libconfig would "
    "otherwise wrap them silently; such literals are refused. Secrets are never logged, and "
    "`--print-config` shows them as `\"***\"`.\n";

int config_doc_markdown(FILE *f)
{
    const struct config_table *t = config_table();
    fputs(intro, f);
    const char *section = NULL;
    size_t slen = 0;
    for (size_t i = 0; i < t->n; i++) {
        const struct config_entry *en = &t->entries[i];
        if (en->kind == CONFIG_KIND_GROUPS) {
            put_groups_entry(f, en);
            section = NULL;
            continue;
        }
        size_t g = strcspn(en->name, ".");
        if (!en->name[g]) g = 0; /* a key outside any group */
        if (!section || slen != g || strncmp(section, en->name, g)) {
            char name[64];
            snprintf(name, sizeof name, "%.*s", (int)g, en->name);
            put_heading(f, name);
            fputs(table_head, f);
            section = en->name, slen = g;
        }
        char env[128];
        config_env_name(en, env, sizeof env);
        char envcell[140];
        snprintf(envcell, sizeof envcell, "`%s`", env);
        put_row(f, en->name, en, envcell);
    }
    return ferror(f) ? -1 : 0;
}
