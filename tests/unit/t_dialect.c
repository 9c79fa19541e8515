/* t_dialect.c — the dialects' SQL, byte for byte against tests/data/golden/.
 *
 * The statements are produced by the very functions the loaders and
 * `logfleetctl rotate` run (through a recording struct wh_sql: no server),
 * so the golden files are what a Redshift cluster would receive.  To
 * regenerate after an intended change: LOGFLEET_GOLDEN_UPDATE=1, then
 * review the diff.
 */
#include "common/config.h"
#include "common/mem.h"
#include "sinks/dialect.h"
#include "sinks/manifest.h"
#include "sinks/warehouse.h"
#include "tests/t.h"

#include <errno.h>

static const char conf[] =
    "app = \"golden\";\n"
    "coord: { dsn = \"host=unused\"; };\n"
    "s3: { bucket = \"logs\"; prefix = \"prod/\"; };\n"
    "kinesis: { stream = \"logs\"; };\n"
    "types = (\n"
    "  { name = \"login\"; columns = [\"ts:timestamp:required\", \"player_id:varchar(64):required\","
    " \"platform:varchar(16)\", \"level:int\", \"gold:bigint\", \"score:double\","
    " \"vip:boolean\", \"note:text\"]; },\n"
    "  { name = \"chat\"; }\n"
    ");\n"
    "backends = (\n"
    "  { name = \"rs\"; dialect = \"redshift\"; dsn = \"host=unused\"; schema = \"logs\";\n"
    "    copy_credentials = \"IAM_ROLE 'arn:aws:iam::123456789012:role/RedshiftLoad'\"; },\n"
    "  { name = \"pg\"; dialect = \"postgres\"; dsn = \"host=unused\"; schema = \"logs\"; }\n"
    ");\n";

struct gfix {
    struct lf_config cfg;
    struct dialect_type login, chat;
    struct buf out;
    struct wh_sql x;
    int day;                     /* 2025-01-02 */
};

static void gopen(struct gfix *g)
{
    struct err e = {0};
    ASSERT_OK(config_load_string(conf, "golden.conf", &g->cfg, &e), e);
    ASSERT_OK(dialect_type_init(&g->login, &g->cfg.types[0], "ts", &e), e);
    ASSERT_OK(dialect_type_init(&g->chat, &g->cfg.types[1], "ts", &e), e);
    buf_init(&g->out, 1 << 20);
    g->x = (struct wh_sql){.echo = &g->out};
    ASSERT_TRUE(wh_day_parse("2025-01-02", &g->day) == 0);
}

static void gclose(struct gfix *g)
{
    dialect_type_free(&g->login);
    dialect_type_free(&g->chat);
    buf_free(&g->out);
    config_free(&g->cfg);
}

static char *read_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    struct buf b;
    buf_init(&b, 1 << 22);
    char chunk[4096];
    for (size_t n; (n = fread(chunk, 1, sizeof chunk, f)) > 0;) buf_append(&b, chunk, n);
    fclose(f);
    return buf_steal(&b, NULL);
}

/* Compares the recorded SQL with tests/data/golden/<name> (or rewrites it). */
static void golden(struct gfix *g, const char *name)
{
    const char *root = getenv("LOGFLEET_ROOT");
    char *path = xasprintf("%s/tests/data/golden/%s", root && *root ? root : ".", name);
    const char *got = g->out.data ? g->out.data : "";
    const char *upd = getenv("LOGFLEET_GOLDEN_UPDATE");
    if (upd && strcmp(upd, "1") == 0) {
        FILE *f = fopen(path, "wb");
        ASSERT_TRUE(f && fputs(got, f) >= 0 && fclose(f) == 0);
    }
    char *want = read_file(path);
    if (!want) fprintf(stderr, "  missing golden file %s\n", path);
    EXPECT_EQ_STR(got, want);
    free(want);
    free(path);
    buf_reset(&g->out);
}

static struct dialect_target target(struct gfix *g, int backend, const struct dialect_type *t)
{
    const struct lf_backend *b = &g->cfg.backends[backend];
    return (struct dialect_target){b->schema, t, b->copy_credentials};
}

TEST(dialect_redshift_golden_ddl)
{
    struct gfix g;
    gopen(&g);
    struct err e = {0};
    const struct dialect_ops *rs = dialect_for(LF_DIALECT_REDSHIFT);
    struct dialect_target login = target(&g, 0, &g.login), chat = target(&g, 0, &g.chat);
    EXPECT_OK(rs->ensure_ledger(&g.x, "logs", &e), e);
    golden(&g, "redshift_ledger.sql");
    EXPECT_OK(rs->create_day_table(&g.x, &login, g.day, &e), e);
    EXPECT_OK(rs->create_day_table(&g.x, &chat, g.day, &e), e);
    golden(&g, "redshift_create_table.sql");
    int days[] = {g.day - 2, g.day - 1, g.day};
    EXPECT_OK(rs->create_or_replace_view(&g.x, &login, days, 3, &e), e);
    EXPECT_OK(rs->create_or_replace_view(&g.x, &chat, days, 1, &e), e);
    golden(&g, "redshift_view.sql");
    EXPECT_OK(rs->drop_table(&g.x, &login, g.day - 30, &e), e);
    EXPECT_OK(rs->drop_view(&g.x, &chat, &e), e);
    golden(&g, "redshift_drop.sql");
    gclose(&g);
}

TEST(dialect_redshift_golden_load)
{
    struct gfix g;
    gopen(&g);
    struct err e = {0};
    const struct dialect_ops *rs = dialect_for(LF_DIALECT_REDSHIFT);
    struct dialect_target login = target(&g, 0, &g.login), chat = target(&g, 0, &g.chat);
    struct dialect_load l = {.manifest_key = "prod/manifests/login/2025/01/02/login-20250102-123.manifest",
                             .bucket = "logs", .day = g.day};
    struct dialect_load_result r;
    EXPECT_OK(rs->load_manifest(&g.x, &login, &l, &r, &e), e);
    EXPECT_TRUE(!r.already);
    golden(&g, "redshift_load_typed.sql");
    l.manifest_key = "prod/manifests/chat/2025/01/02/chat-20250102-124.manifest";
    EXPECT_OK(rs->load_manifest(&g.x, &chat, &l, &r, &e), e);
    golden(&g, "redshift_load_generic.sql");
    gclose(&g);
}

TEST(dialect_postgres_golden)
{
    struct gfix g;
    gopen(&g);
    struct err e = {0};
    const struct dialect_ops *pg = dialect_for(LF_DIALECT_POSTGRES);
    struct dialect_target login = target(&g, 1, &g.login), chat = target(&g, 1, &g.chat);
    EXPECT_OK(pg->ensure_ledger(&g.x, "logs", &e), e);
    EXPECT_OK(pg->create_day_table(&g.x, &login, g.day, &e), e);
    EXPECT_OK(pg->create_day_table(&g.x, &chat, g.day, &e), e);
    int days[] = {g.day - 1, g.day};
    EXPECT_OK(pg->create_or_replace_view(&g.x, &login, days, 2, &e), e);
    EXPECT_OK(pg->drop_table(&g.x, &login, g.day - 30, &e), e);
    golden(&g, "postgres_ddl.sql");
    struct dialect_load l = {.manifest_key = "prod/manifests/login/2025/01/02/login-20250102-123.manifest",
                             .bucket = "logs", .day = g.day};
    struct dialect_load_result r;
    EXPECT_OK(pg->load_manifest(&g.x, &login, &l, &r, &e), e);
    l.manifest_key = "prod/manifests/chat/2025/01/02/chat-20250102-124.manifest";
    EXPECT_OK(pg->load_manifest(&g.x, &chat, &l, &r, &e), e);
    golden(&g, "postgres_load.sql");
    gclose(&g);
}

TEST(dialect_manifest_json_and_keys)
{
    struct gfix g;
    gopen(&g);
    struct manifest_entry v[] = {{"prod/objects/login/2025/01/02/00/s-1-0.json.gz", 123456},
                                 {"prod/objects/login/2025/01/02/01/s-9-0.json.gz", 7}};
    manifest_json(&g.out, "logs", v, 2, NULL);
    EXPECT_EQ_STR(g.out.data,
                  "{\"entries\":[{\"url\":\"s3://logs/prod/objects/login/2025/01/02/00/s-1-0.json.gz\","
                  "\"mandatory\":true,\"meta\":{\"content_length\":123456}},"
                  "{\"url\":\"s3://logs/prod/objects/login/2025/01/02/01/s-9-0.json.gz\","
                  "\"mandatory\":true,\"meta\":{\"content_length\":7}}]}");
    buf_reset(&g.out);
    manifest_json(&g.out, "logs", v, 1, "{\"message\":\"x\"}");
    EXPECT_CONTAINS(g.out.data, "}}],\"error\":{\"message\":\"x\"}}");
    char key[512];
    manifest_key(key, sizeof key, &g.cfg, g.cfg.manifest.prefix, "login", g.day, 42, NULL);
    EXPECT_EQ_STR(key, "prod/manifests/login/2025/01/02/login-20250102-42.manifest");
    manifest_key(key, sizeof key, &g.cfg, g.cfg.manifest.error_prefix, "login", g.day, 42, ".wh_b");
    EXPECT_EQ_STR(key, "prod/errors/login/2025/01/02/login-20250102-42.wh_b.manifest");
    gclose(&g);
}

TEST(dialect_types_days_and_names)
{
    struct gfix g;
    gopen(&g);
    EXPECT_EQ_INT(g.login.sort_col, 0);
    EXPECT_EQ_INT(g.chat.n_cols, 0);
    char name[WH_IDENT_MAX];
    dialect_table_name("login", g.day, name);
    EXPECT_EQ_STR(name, "login_20250102");
    int d;
    EXPECT_EQ_INT(wh_day_parse("2025-02-30", &d), -1);
    EXPECT_EQ_INT(wh_day_parse("2025-2-03", &d), -1);
    EXPECT_EQ_INT(wh_day_parse("2024-02-29", &d), 0);
    char ymd[9], path[11];
    wh_day_ymd(d, ymd);
    wh_day_path(d, path);
    EXPECT_EQ_STR(ymd, "20240229");
    EXPECT_EQ_STR(path, "2024/02/29");
    /* 55 bytes + "_yyyymmdd" would pass PostgreSQL's 63-byte identifiers */
    char long_name[] = "a234567890123456789012345678901234567890123456789012345";
    struct lf_type longt = {.name = long_name};
    struct dialect_type t;
    struct err e = {0};
    EXPECT_EQ_INT(dialect_type_init(&t, &longt, "ts", &e), -ENAMETOOLONG);
    long_name[54] = 0;
    EXPECT_OK(dialect_type_init(&t, &longt, "ts", &e), e);
    EXPECT_EQ_INT(t.sort_col, -1);
    dialect_type_free(&t);
    gclose(&g);
}
