/* t_config.c — the configuration table: parsing, errors (pinned word for
 * word), environment overrides, lists of groups, printing and the docs. */
#include "common/config.h"
#include "tests/t.h"

#include <errno.h>
#include <unistd.h>

extern char **environ;

/* The three required keys and nothing else. */
#define MIN_CONF                                 \
    "coord = { dsn = \"host=/tmp dbname=c\"; };\n" \
    "s3 = { bucket = \"logs\"; };\n"               \
    "kinesis = { stream = \"s\"; };\n"

/* Tests must not see LOGFLEET_* variables of whoever runs them. */
static void clear_env(void)
{
    for (char **v = environ; *v;) {
        if (strncmp(*v, "LOGFLEET_", 9)) {
            v++;
            continue;
        }
        char name[128];
        snprintf(name, sizeof name, "%.*s", (int)strcspn(*v, "="), *v);
        unsetenv(name);
        v = environ;
    }
}

static int load(const char *text, struct lf_config *c, struct err *e)
{
    return config_load_string(text, "logfleet.conf", c, e);
}

/* Loading text fails with exactly the message want, and leaves the config zeroed. */
#define EXPECT_LOAD_ERR(text, want)                                    \
    do {                                                              \
        struct lf_config c_;                                          \
        struct err e_ = {0};                                          \
        EXPECT_EQ_INT(load(text, &c_, &e_), -EINVAL);                 \
        EXPECT_EQ_STR(e_.msg, want);                                  \
        EXPECT_TRUE(c_.coord.dsn == NULL && c_.backends == NULL);     \
        config_free(&c_);                                             \
    } while (0)

static char *print_str(const struct lf_config *c)
{
    char *p = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&p, &n);
    EXPECT_EQ_INT(config_print(f, c), 0);
    fclose(f);
    return p;
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    ASSERT_TRUE(f != NULL);
    fputs(text, f);
    fclose(f);
}

TEST(config_defaults)
{
    clear_env();
    struct lf_config c;
    struct err e = {0};
    ASSERT_OK(load(MIN_CONF, &c, &e), e);
    EXPECT_EQ_INT(c.log_level, LOG_INFO);
    EXPECT_EQ_STR(c.worker_id, "");
    EXPECT_EQ_STR(c.coord.dsn, "host=/tmp dbname=c");
    EXPECT_EQ_STR(c.coord.schema, "logfleet");
    EXPECT_EQ_STR(c.aws.region, "us-east-1");
    EXPECT_EQ_STR(c.aws.access_key_id, "");
    EXPECT_EQ_STR(c.aws.secret_access_key, "");
    EXPECT_EQ_STR(c.aws.session_token, "");
    EXPECT_EQ_STR(c.aws.profile, "");
    EXPECT_EQ_STR(c.aws.imds_endpoint, "");
    EXPECT_EQ_STR(c.aws.ecs_endpoint, "");
    EXPECT_EQ_INT(c.aws.imds_disabled, 0);
    EXPECT_EQ_INT(c.aws.connect_timeout_ms, 3000);
    EXPECT_EQ_INT(c.aws.request_timeout_ms, 30000);
    EXPECT_EQ_INT(c.aws.max_attempts, 5);
    EXPECT_EQ_INT(c.aws.retry_base_ms, 100);
    EXPECT_EQ_INT(c.aws.retry_cap_ms, 20000);
    EXPECT_EQ_STR(c.s3.endpoint, "");
    EXPECT_EQ_STR(c.s3.bucket, "logs");
    EXPECT_EQ_STR(c.s3.prefix, "");
    EXPECT_EQ_INT(c.s3.if_none_match, 1);
    EXPECT_EQ_INT(c.s3.payload_signing, LF_PAYLOAD_AUTO);
    EXPECT_TRUE(lf_s3_unsigned_payload(&c)); /* AWS's endpoint is https */
    EXPECT_EQ_STR(c.kinesis.endpoint, "");
    EXPECT_EQ_STR(c.kinesis.stream, "s");
    EXPECT_EQ_INT(c.kinesis.initial_position, LF_POSITION_TRIM_HORIZON);
    EXPECT_EQ_INT(c.kinesis.initial_timestamp, 0);
    EXPECT_EQ_INT(c.kinesis.max_records, 10000);
    EXPECT_EQ_INT(c.kinesis.idle_between_reads_ms, 1000);
    EXPECT_EQ_INT(c.lease.duration_ms, 10000);
    EXPECT_EQ_INT(c.lease.max_leases, 0);
    EXPECT_EQ_INT(c.lease.max_steal, 1);
    EXPECT_EQ_INT(c.lease.shard_sync_ms, 60000);
    EXPECT_EQ_INT(c.lease.graceful_handoff, 1);
    EXPECT_EQ_INT(c.lease.handoff_timeout_ms, 30000);
    EXPECT_EQ_INT(c.shutdown.grace_ms, 30000);
    EXPECT_EQ_STR(c.http.listen, "127.0.0.1:0");
    EXPECT_EQ_INT(c.n_backends, 0);
    EXPECT_TRUE(c.backends == NULL);
    config_free(&c);
    EXPECT_TRUE(c.coord.dsn == NULL);
    config_free(&c); /* twice is harmless */
    config_free(NULL);
}

TEST(config_values_read)
{
    clear_env();
    struct lf_config c;
    struct err e = {0};
    ASSERT_OK(load(MIN_CONF "log_level = \"debug\";\n"
                            "aws = { region = \"eu-west-1\"; max_attempts = 20; imds_disabled = true;"
                            " retry_base_ms = 10; retry_cap_ms = 10; };\n",
                   &c, &e),
              e);
    EXPECT_EQ_INT(c.log_level, LOG_DEBUG);
    EXPECT_EQ_STR(c.aws.region, "eu-west-1");
    EXPECT_EQ_INT(c.aws.max_attempts, 20);
    EXPECT_EQ_INT(c.aws.imds_disabled, 1);
    EXPECT_EQ_INT(c.aws.retry_cap_ms, 10);
    config_free(&c);
}

/* ---- the error messages, word for word ----------------------------------- */

TEST(config_err_out_of_range)
{
    clear_env();
    EXPECT_LOAD_ERR("# logfleet\n" MIN_CONF "aws = {\n"
                    "  region = \"eu-west-1\";\n"
                    "  max_attempts = 0;\n"
                    "};\n",
                    "logfleet.conf:7: aws.max_attempts: expected an integer in [1, 20], got 0");
    EXPECT_LOAD_ERR(MIN_CONF "lease = { duration_ms = 999; };\n",
                    "logfleet.conf:4: lease.duration_ms: expected an integer (milliseconds) in "
                    "[1000, 600000], got 999");
    EXPECT_LOAD_ERR(MIN_CONF "aws = { max_attempts = 1.5; };\n",
                    "logfleet.conf:4: aws.max_attempts: expected an integer in [1, 20], got a float");
}

TEST(config_err_unknown_key_suggests)
{
    clear_env();
    EXPECT_LOAD_ERR("coord = { dsn = \"x\"; };\n"
                    "aws = {\n"
                    "  reigon = \"eu-west-1\";\n"
                    "};\n",
                    "logfleet.conf:3: unknown key \"aws.reigon\" (did you mean \"aws.region\"?)");
    EXPECT_LOAD_ERR(MIN_CONF "awz = { region = \"x\"; };\n",
                    "logfleet.conf:4: unknown key \"awz\" (did you mean \"aws\"?)");
    EXPECT_LOAD_ERR("coord = { dsn = \"x\"; dns = \"y\"; };\n",
                    "logfleet.conf:1: unknown key \"coord.dns\" (did you mean \"coord.dsn\"?)");
    EXPECT_LOAD_ERR(MIN_CONF "coord = { schema = \"x\"; };\n",
                    "logfleet.conf:4: duplicate setting name");
    EXPECT_LOAD_ERR(MIN_CONF "zookeeper = \"x\";\n", "logfleet.conf:4: unknown key \"zookeeper\"");
    EXPECT_LOAD_ERR(MIN_CONF "aws = 5;\n", "logfleet.conf:4: aws: expected a group, got an integer");
}

TEST(config_err_wrong_type)
{
    clear_env();
    EXPECT_LOAD_ERR("coord = { dsn = \"x\"; };\n"
                    "kinesis = { stream = \"s\"; };\n"
                    "\n"
                    "s3 = {\n"
                    "  bucket = 17;\n"
                    "};\n",
                    "logfleet.conf:5: s3.bucket: expected a string, got an integer");
    EXPECT_LOAD_ERR(MIN_CONF "lease = { graceful_handoff = \"yes\"; };\n",
                    "logfleet.conf:4: lease.graceful_handoff: expected true or false, got a string");
    EXPECT_LOAD_ERR(MIN_CONF "aws = { region = [\"a\"]; };\n",
                    "logfleet.conf:4: aws.region: expected a string, got an array");
}

TEST(config_err_enum)
{
    clear_env();
    EXPECT_LOAD_ERR("coord = { dsn = \"x\"; };\n"
                    "s3 = { bucket = \"logs\"; };\n"
                    "kinesis = {\n"
                    "  stream = \"s\";\n"
                    "  max_records = 100;\n"
                    "\n"
                    "  # where new shards start\n"
                    "\n"
                    "  initial_position = \"OLDEST\";\n"
                    "};\n",
                    "logfleet.conf:9: kinesis.initial_position: expected one of TRIM_HORIZON, "
                    "LATEST, AT_TIMESTAMP, got \"OLDEST\"");
    EXPECT_LOAD_ERR(MIN_CONF "log_level = \"INFO\";\n",
                    "logfleet.conf:4: log_level: expected one of debug, info, warn, error, got "
                    "\"INFO\"");
}

/* s3.payload_signing: "auto" follows the endpoint's scheme; the other two
 * are what they say whatever the endpoint. */
TEST(config_payload_signing_resolves_by_endpoint)
{
    clear_env();
    static const struct {
        const char *mode, *endpoint;
        int want_unsigned;
    } cases[] = {
        {"auto", "", 1},
        {"auto", "https://s3.eu-west-1.amazonaws.com", 1},
        {"auto", "https://minio.internal:9000", 1},
        {"auto", "http://127.0.0.1:9000", 0},
        {"signed", "https://s3.amazonaws.com", 0},
        {"signed", "", 0},
        {"unsigned", "http://127.0.0.1:9000", 1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char text[512];
        snprintf(text, sizeof text,
                 "coord = { dsn = \"x\"; };\n"
                 "s3 = { bucket = \"logs\"; endpoint = \"%s\"; payload_signing = \"%s\"; };\n"
                 "kinesis = { stream = \"s\"; };\n",
                 cases[i].endpoint, cases[i].mode);
        struct lf_config c;
        struct err e = {0};
        ASSERT_OK(load(text, &c, &e), e);
        EXPECT_EQ_INT(lf_s3_unsigned_payload(&c), cases[i].want_unsigned);
        config_free(&c);
    }
    EXPECT_LOAD_ERR("coord = { dsn = \"x\"; };\n"
                    "kinesis = { stream = \"s\"; };\n"
                    "s3 = { bucket = \"logs\"; payload_signing = \"none\"; };\n",
                    "logfleet.conf:3: s3.payload_signing: expected one of auto, signed, "
                    "unsigned, got \"none\"");
}

TEST(config_err_syntax)
{
    clear_env();
    EXPECT_LOAD_ERR("coord = { dsn = \"x\"; };\n"
                    "s3 = { bucket = \"logs\"; };\n"
                    "kinesis = { stream = \"s\"; };\n"
                    "aws = { region = ; };\n",
                    "logfleet.conf:4: syntax error");
}

TEST(config_err_required_missing)
{
    clear_env();
    EXPECT_LOAD_ERR("s3 = { bucket = \"logs\"; };\nkinesis = { stream = \"s\"; };\n",
                    "logfleet.conf: coord.dsn: required key missing");
    EXPECT_LOAD_ERR("coord = { dsn = \"x\"; };\nkinesis = { stream = \"s\"; };\n",
                    "logfleet.conf: s3.bucket: required key missing");
    EXPECT_LOAD_ERR("coord = { dsn = \"\"; };\ns3 = { bucket = \"logs\"; };\n",
                    "logfleet.conf:1: coord.dsn: expected a non-empty string, got \"\"");
}

TEST(config_err_value_checks)
{
    clear_env();
    EXPECT_LOAD_ERR("coord = { dsn = \"x\"; schema = \"Logs\"; };\n",
                    "logfleet.conf:1: coord.schema: expected a name matching "
                    "^[a-z_][a-z0-9_]{0,62}$, got \"Logs\"");
    EXPECT_LOAD_ERR(MIN_CONF "http = { listen = \"localhost\"; };\n",
                    "logfleet.conf:4: http.listen: expected host:port (port 0-65535, [v6]:port "
                    "for IPv6) or \"\", got \"localhost\"");
    EXPECT_LOAD_ERR(MIN_CONF "http = { listen = \"127.0.0.1:65536\"; };\n",
                    "logfleet.conf:4: http.listen: expected host:port (port 0-65535, [v6]:port "
                    "for IPv6) or \"\", got \"127.0.0.1:65536\"");
    EXPECT_LOAD_ERR("coord = { dsn = \"x\"; };\ns3 = { bucket = \"s3://logs\"; };\n",
                    "logfleet.conf:2: s3.bucket: expected a bucket name (3-63 of a-z 0-9 . -, no "
                    "s3:// prefix), got \"s3://logs\"");
    EXPECT_LOAD_ERR(MIN_CONF "aws = { ecs_endpoint = \"169.254.170.2\"; };\n",
                    "logfleet.conf:4: aws.ecs_endpoint: expected an http:// or https:// URL, or "
                    "\"\", got \"169.254.170.2\"");

    struct lf_config c;
    struct err e = {0};
    const char *ok[] = {"", "[::1]:8080", "0.0.0.0:9100", "metrics.local:0"};
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        char text[256];
        snprintf(text, sizeof text, MIN_CONF "http = { listen = \"%s\"; };\n", ok[i]);
        EXPECT_OK(load(text, &c, &e), e);
        EXPECT_EQ_STR(c.http.listen, ok[i]);
        config_free(&c);
    }
}

TEST(config_err_cross_key)
{
    clear_env();
    EXPECT_LOAD_ERR(MIN_CONF "aws = {\n  retry_base_ms = 5000;\n  retry_cap_ms = 1000;\n};\n",
                    "logfleet.conf:5: aws.retry_base_ms: must not exceed aws.retry_cap_ms (1000), "
                    "got 5000");
    EXPECT_LOAD_ERR("coord = { dsn = \"x\"; };\ns3 = { bucket = \"logs\"; };\n"
                    "kinesis = { stream = \"s\"; initial_position = \"AT_TIMESTAMP\"; };\n",
                    "logfleet.conf: kinesis.initial_timestamp: must be set when "
                    "kinesis.initial_position is AT_TIMESTAMP");
    EXPECT_LOAD_ERR(MIN_CONF "aws = { access_key_id = \"AKIDEXAMPLE\"; };\n",
                    "logfleet.conf: aws.secret_access_key: required when aws.access_key_id is set");
    EXPECT_LOAD_ERR(MIN_CONF "aws = { session_token = \"tok\"; };\n",
                    "logfleet.conf: aws.access_key_id: required when aws.session_token is set");
}

TEST(config_err_wide_integer_needs_suffix)
{
    clear_env();
    const char *head = "coord = { dsn = \"x\"; };\ns3 = { bucket = \"logs\"; };\n";
    char text[512];
    snprintf(text, sizeof text,
             "%skinesis = { stream = \"s\"; initial_position = \"AT_TIMESTAMP\";\n"
             "  initial_timestamp = 5000000000; };\n",
             head);
    EXPECT_LOAD_ERR(text, "logfleet.conf:4: integer 5000000000 does not fit in 32 bits; write "
                          "it as 5000000000L");
    EXPECT_LOAD_ERR(MIN_CONF "lease = { max_leases = 4294967297; };\n",
                    "logfleet.conf:4: integer 4294967297 does not fit in 32 bits; write it as "
                    "4294967297L");
    EXPECT_LOAD_ERR(MIN_CONF "lease = { max_leases = 4294967297L; };\n",
                    "logfleet.conf:4: lease.max_leases: expected an integer in [0, 100000], got "
                    "4294967297");

    /* digits in strings, names and comments, and floats, are not integers */
    snprintf(text, sizeof text,
             "%s# 99999999999\n/* 88888888888\n */ // 77777777777\n"
             "kinesis = { stream = \"s99999999999\"; initial_position = \"AT_TIMESTAMP\";\n"
             "  initial_timestamp = 5000000000L; };\ns3x1 = 1e12;\n",
             head);
    struct lf_config c;
    struct err e = {0};
    EXPECT_EQ_INT(load(text, &c, &e), -EINVAL);
    EXPECT_EQ_STR(e.msg, "logfleet.conf:8: unknown key \"s3x1\"");
    snprintf(text, sizeof text,
             "%s# 99999999999\nkinesis = { stream = \"s99999999999\";\n"
             "  initial_position = \"AT_TIMESTAMP\"; initial_timestamp = 5000000000L; };\n",
             head);
    ASSERT_OK(load(text, &c, &e), e);
    EXPECT_EQ_INT(c.kinesis.initial_timestamp, 5000000000LL);
    EXPECT_EQ_INT(c.kinesis.initial_position, LF_POSITION_AT_TIMESTAMP);
    EXPECT_EQ_STR(c.kinesis.stream, "s99999999999");
    config_free(&c);
}

/* ---- files and the environment -------------------------------------------- */

TEST(config_load_file)
{
    clear_env();
    char path[512], want[600];
    snprintf(path, sizeof path, "%s/logfleet.conf", t_tmpdir());
    write_file(path, MIN_CONF "aws = {\n  max_attempts = 21;\n};\n");
    struct lf_config c;
    struct err e = {0};
    EXPECT_EQ_INT(config_load(path, &c, &e), -EINVAL);
    snprintf(want, sizeof want, "%s:5: aws.max_attempts: expected an integer in [1, 20], got 21",
             path);
    EXPECT_EQ_STR(e.msg, want);

    write_file(path, MIN_CONF "aws = { max_attempts = 2; };\n");
    ASSERT_OK(config_load(path, &c, &e), e);
    EXPECT_EQ_INT(c.aws.max_attempts, 2);
    config_free(&c);

    snprintf(path, sizeof path, "%s/missing.conf", t_tmpdir());
    EXPECT_EQ_INT(config_load(path, &c, &e), -ENOENT);
    snprintf(want, sizeof want, "%s: cannot open: No such file or directory", path);
    EXPECT_EQ_STR(e.msg, want);
    config_free(&c);
}

TEST(config_env_overrides_file)
{
    clear_env();
    setenv("LOGFLEET_AWS_REGION", "ap-south-1", 1);
    setenv("LOGFLEET_COORD_DSN", "host=/env dbname=c", 1);
    setenv("LOGFLEET_AWS_ACCESS_KEY_ID", "AKIDENV", 1);
    setenv("LOGFLEET_AWS_SECRET_ACCESS_KEY", "envsecret", 1);
    setenv("LOGFLEET_AWS_IMDS_DISABLED", "yes", 1);
    setenv("LOGFLEET_LEASE_MAX_LEASES", "7", 1);
    setenv("LOGFLEET_KINESIS_INITIAL_POSITION", "LATEST", 1);
    struct lf_config c;
    struct err e = {0};
    ASSERT_OK(load("s3 = { bucket = \"logs\"; };\nkinesis = { stream = \"s\"; };\n"
                   "aws = { region = \"eu-west-1\"; max_attempts = 3; };\n",
                   &c, &e),
              e);
    EXPECT_EQ_STR(c.aws.region, "ap-south-1");
    EXPECT_EQ_INT(c.aws.max_attempts, 3);
    EXPECT_EQ_STR(c.coord.dsn, "host=/env dbname=c");
    EXPECT_EQ_STR(c.aws.secret_access_key, "envsecret");
    EXPECT_EQ_INT(c.aws.imds_disabled, 1);
    EXPECT_EQ_INT(c.lease.max_leases, 7);
    EXPECT_EQ_INT(c.kinesis.initial_position, LF_POSITION_LATEST);
    config_free(&c);
}

TEST(config_env_errors)
{
    clear_env();
    setenv("LOGFLEET_AWS_MAX_ATTEMPTS", "x", 1);
    EXPECT_LOAD_ERR(MIN_CONF,
                    "env LOGFLEET_AWS_MAX_ATTEMPTS: expected an integer in [1, 20], got \"x\"");
    setenv("LOGFLEET_AWS_MAX_ATTEMPTS", "21", 1);
    EXPECT_LOAD_ERR(MIN_CONF,
                    "env LOGFLEET_AWS_MAX_ATTEMPTS: expected an integer in [1, 20], got \"21\"");
    setenv("LOGFLEET_AWS_MAX_ATTEMPTS", " 5", 1);
    EXPECT_LOAD_ERR(MIN_CONF,
                    "env LOGFLEET_AWS_MAX_ATTEMPTS: expected an integer in [1, 20], got \" 5\"");
    unsetenv("LOGFLEET_AWS_MAX_ATTEMPTS");
    setenv("LOGFLEET_S3_IF_NONE_MATCH", "maybe", 1);
    EXPECT_LOAD_ERR(MIN_CONF, "env LOGFLEET_S3_IF_NONE_MATCH: expected true or false, got \"maybe\"");
    unsetenv("LOGFLEET_S3_IF_NONE_MATCH");
    setenv("LOGFLEET_KINESIS_INITIAL_POSITION", "OLDEST", 1);
    EXPECT_LOAD_ERR(MIN_CONF, "env LOGFLEET_KINESIS_INITIAL_POSITION: expected one of "
                              "TRIM_HORIZON, LATEST, AT_TIMESTAMP, got \"OLDEST\"");
    unsetenv("LOGFLEET_KINESIS_INITIAL_POSITION");
    setenv("LOGFLEET_COORD_DSN", "", 1);
    EXPECT_LOAD_ERR(MIN_CONF, "env LOGFLEET_COORD_DSN: expected a non-empty string, got \"\"");
}

TEST(config_env_only)
{
    clear_env();
    struct lf_config c;
    struct err e = {0};
    EXPECT_EQ_INT(config_load(NULL, &c, &e), -EINVAL);
    EXPECT_EQ_STR(e.msg, "environment: coord.dsn: required key missing");
    setenv("LOGFLEET_COORD_DSN", "dbname=c", 1);
    setenv("LOGFLEET_S3_BUCKET", "logs", 1);
    setenv("LOGFLEET_KINESIS_STREAM", "s", 1);
    setenv("LOGFLEET_BACKENDS",
           "( { name = \"wh_env\"; dialect = \"postgres\"; types = [\"login\"]; } );", 1);
    ASSERT_OK(config_load(NULL, &c, &e), e);
    EXPECT_EQ_STR(c.kinesis.stream, "s");
    ASSERT_TRUE(c.n_backends == 1);
    EXPECT_EQ_STR(c.backends[0].name, "wh_env");
    EXPECT_EQ_INT(c.backends[0].n_types, 1);
    EXPECT_EQ_STR(c.backends[0].types[0], "login");
    config_free(&c);
}

/* ---- lists of groups: backends -------------------------------------------- */

TEST(config_backends_parse)
{
    clear_env();
    struct lf_config c;
    struct err e = {0};
    ASSERT_OK(load(MIN_CONF "backends = (\n"
                            "  { name = \"wh_a\"; dialect = \"redshift\"; dsn = \"host=a\";\n"
                            "    copy_credentials = \"IAM_ROLE 'arn:aws:iam::1:role/x'\"; },\n"
                            "  { name = \"wh_b\"; dialect = \"postgres\"; dsn = \"host=b\";\n"
                            "    pool_size = 4; types = [\"login\", \"purchase\"]; schema = \"logs\"; }\n"
                            ");\n",
                   &c, &e),
              e);
    ASSERT_TRUE(c.n_backends == 2);
    struct lf_backend *a = &c.backends[0], *b = &c.backends[1];
    EXPECT_EQ_STR(a->name, "wh_a");
    EXPECT_EQ_INT(a->dialect, LF_DIALECT_REDSHIFT);
    EXPECT_EQ_STR(a->dsn, "host=a");
    EXPECT_EQ_INT(a->pool_size, 2);
    EXPECT_EQ_INT(a->n_types, 0);
    EXPECT_TRUE(a->types == NULL);
    EXPECT_EQ_STR(a->copy_credentials, "IAM_ROLE 'arn:aws:iam::1:role/x'");
    EXPECT_EQ_STR(a->schema, "public");
    EXPECT_EQ_STR(b->name, "wh_b");
    EXPECT_EQ_INT(b->dialect, LF_DIALECT_POSTGRES);
    EXPECT_EQ_INT(b->pool_size, 4);
    ASSERT_TRUE(b->n_types == 2);
    EXPECT_EQ_STR(b->types[0], "login");
    EXPECT_EQ_STR(b->types[1], "purchase");
    EXPECT_EQ_STR(b->copy_credentials, "");
    EXPECT_EQ_STR(b->schema, "logs");
    config_free(&c);

    ASSERT_OK(load(MIN_CONF "backends = ();\n", &c, &e), e);
    EXPECT_EQ_INT(c.n_backends, 0);
    config_free(&c);
    ASSERT_OK(load(MIN_CONF "backends = [];\n", &c, &e), e);
    EXPECT_EQ_INT(c.n_backends, 0);
    config_free(&c);
}

TEST(config_backends_errors)
{
    clear_env();
    EXPECT_LOAD_ERR(MIN_CONF "backends = (\n"
                             "  { name = \"wh_a\"; dialect = \"postgres\"; },\n"
                             "  { name = \"wh_b\"; dialect = \"postgres\"; },\n"
                             "  { dialect = \"postgres\";\n"
                             "    name = \"wh_a\"; }\n"
                             ");\n",
                    "logfleet.conf:8: backends[2].name: \"wh_a\" is already used by backends[0] "
                    "(line 5)");
    EXPECT_LOAD_ERR(MIN_CONF "backends = (\n"
                             "  { name = \"Wh-A\"; dialect = \"postgres\"; }\n);\n",
                    "logfleet.conf:5: backends[0].name: expected a name matching "
                    "^[a-z][a-z0-9_]{0,62}$, got \"Wh-A\"");
    EXPECT_LOAD_ERR(MIN_CONF "backends = (\n  { name = \"wh_a\"; dialect = \"postgres\"; },\n"
                             "  {\n    name = \"wh_b\";\n  }\n);\n",
                    "logfleet.conf:6: backends[1].dialect: required key missing");
    EXPECT_LOAD_ERR(MIN_CONF "backends = (\n  { name = \"wh_a\"; dailect = \"postgres\"; }\n);\n",
                    "logfleet.conf:5: unknown key \"backends[0].dailect\" (did you mean "
                    "\"backends[0].dialect\"?)");
    EXPECT_LOAD_ERR(MIN_CONF "backends = (\n  { name = \"wh_a\"; dialect = \"mysql\"; }\n);\n",
                    "logfleet.conf:5: backends[0].dialect: expected one of redshift, postgres, got "
                    "\"mysql\"");
    EXPECT_LOAD_ERR(MIN_CONF "backends = ( \"wh_a\" );\n",
                    "logfleet.conf:4: backends[0]: expected a group, got a string");
    EXPECT_LOAD_ERR(MIN_CONF "backends = { name = \"wh_a\"; };\n",
                    "logfleet.conf:4: backends: expected a list of groups, got a group");
    EXPECT_LOAD_ERR(MIN_CONF "backends = ( { name = \"wh_a\"; dialect = \"postgres\";\n"
                             "  pool_size = 65; } );\n",
                    "logfleet.conf:5: backends[0].pool_size: expected an integer in [1, 64], got 65");
    EXPECT_LOAD_ERR(MIN_CONF "backends = ( { name = \"wh_a\"; dialect = \"postgres\";\n"
                             "  types = [\"login\", \"Purchase\"]; } );\n",
                    "logfleet.conf:5: backends[0].types[1]: expected a name matching "
                    "^[a-z][a-z0-9_]{0,62}$, got \"Purchase\"");
    EXPECT_LOAD_ERR(MIN_CONF "backends = ( { name = \"wh_a\"; dialect = \"postgres\";\n"
                             "  types = (\"login\", 5); } );\n",
                    "logfleet.conf:5: backends[0].types[1]: expected a string, got an integer");
    EXPECT_LOAD_ERR(MIN_CONF "backends = (\n  { name = \"wh_a\"; dialect = \"redshift\"; }\n);\n",
                    "logfleet.conf:5: backends[0].copy_credentials: required for dialect redshift "
                    "(e.g. \"IAM_ROLE default\")");
    EXPECT_LOAD_ERR(MIN_CONF "backends = (\n  { name = \"wh_a\"; dialect = \"postgres\";\n"
                             "    copy_credentials = \"IAM_ROLE default\"; }\n);\n",
                    "logfleet.conf:6: backends[0].copy_credentials: only used with dialect "
                    "redshift");

    setenv("LOGFLEET_BACKENDS", "( { name = \"a\"; dialect = \"postgres\"; }, "
                                "{ name = \"a\"; dialect = \"postgres\"; } )", 1);
    EXPECT_LOAD_ERR(MIN_CONF, "env LOGFLEET_BACKENDS: backends[1].name: \"a\" is already used "
                              "by backends[0]");
    setenv("LOGFLEET_BACKENDS", "( { name = \"a\" ", 1);
    EXPECT_LOAD_ERR(MIN_CONF, "env LOGFLEET_BACKENDS: syntax error");
}

/* ---- printing ---------------------------------------------------------------- */

static const char full_conf[] =
    "log_level = \"warn\";\n"
    "worker_id = \"w-1\";\n"
    "coord = { dsn = \"host=/run/pg password=hunter2\"; schema = \"lf_test\"; };\n"
    "aws = { region = \"eu-west-1\"; access_key_id = \"AKIDEXAMPLE\";\n"
    "  secret_access_key = \"wJalrXUtnFEMI\"; session_token = \"\"; profile = \"p\";\n"
    "  imds_endpoint = \"http://127.0.0.1:1\"; imds_disabled = true; connect_timeout_ms = 100;\n"
    "  request_timeout_ms = 600000; max_attempts = 20; retry_base_ms = 7; retry_cap_ms = 10; };\n"
    "s3 = { endpoint = \"http://127.0.0.1:9000\"; bucket = \"my.logs-1\";\n"
    "  prefix = \"a\\\"b\\\\c\\td/\\n\"; if_none_match = false; };\n"
    "kinesis = { stream = \"logs\"; initial_position = \"AT_TIMESTAMP\";\n"
    "  initial_timestamp = 253402300799L; max_records = 1; idle_between_reads_ms = 0; };\n"
    "lease = { duration_ms = 1000; max_leases = 100000; max_steal = 100; shard_sync_ms = 3600000;\n"
    "  graceful_handoff = false; handoff_timeout_ms = 1000; };\n"
    "shutdown = { grace_ms = 0; };\n"
    "http = { listen = \"\"; };\n"
    "backends = (\n"
    "  { name = \"wh_a\"; dialect = \"redshift\"; dsn = \"host=a password=s3cr3t\";\n"
    "    copy_credentials = \"IAM_ROLE 'arn:aws:iam::1:role/x'\"; },\n"
    "  { name = \"wh_b\"; dialect = \"postgres\"; pool_size = 64; types = [\"login\", \"buy\"]; }\n"
    ");\n";

TEST(config_print_round_trip)
{
    clear_env();
    struct lf_config a, b;
    struct err e = {0};
    ASSERT_OK(load(full_conf, &a, &e), e);
    char *p1 = print_str(&a);
    ASSERT_OK(config_load_string(p1, "printed", &b, &e), e);
    char *p2 = print_str(&b);
    EXPECT_EQ_STR(p2, p1);
    EXPECT_EQ_STR(b.s3.prefix, "a\"b\\c\td/\n");
    EXPECT_EQ_STR(b.s3.bucket, "my.logs-1");
    EXPECT_EQ_INT(b.kinesis.initial_timestamp, 253402300799LL);
    EXPECT_EQ_INT(b.kinesis.initial_position, LF_POSITION_AT_TIMESTAMP);
    EXPECT_EQ_INT(b.log_level, LOG_WARN);
    EXPECT_EQ_INT(b.aws.imds_disabled, 1);
    EXPECT_EQ_INT(b.s3.if_none_match, 0);
    EXPECT_EQ_INT(b.lease.shard_sync_ms, 3600000);
    EXPECT_EQ_STR(b.http.listen, "");
    ASSERT_TRUE(b.n_backends == 2);
    EXPECT_EQ_STR(b.backends[1].types[1], "buy");
    EXPECT_EQ_INT(b.backends[1].pool_size, 64);
    EXPECT_EQ_STR(b.coord.dsn, "***");
    EXPECT_EQ_STR(b.aws.secret_access_key, "***");
    EXPECT_EQ_STR(b.backends[0].copy_credentials, "***");
    EXPECT_EQ_STR(b.backends[1].dsn, ""); /* an empty secret stays visibly empty */
    free(p1);
    free(p2);
    config_free(&a);
    config_free(&b);

    /* a default config prints and reads back too */
    ASSERT_OK(load(MIN_CONF, &a, &e), e);
    p1 = print_str(&a);
    EXPECT_CONTAINS(p1, "backends = ();\n");
    EXPECT_CONTAINS(p1, "aws = {\n  region = \"us-east-1\";\n");
    EXPECT_CONTAINS(p1, "  initial_timestamp = 0L;\n");
    ASSERT_OK(config_load_string(p1, "printed", &b, &e), e);
    free(p1);
    config_free(&a);
    config_free(&b);
}

TEST(config_print_hides_secrets)
{
    clear_env();
    setenv("LOGFLEET_AWS_SESSION_TOKEN", "FQoGZXIvYXdzENV", 1);
    struct lf_config c;
    struct err e = {0};
    ASSERT_OK(load(full_conf, &c, &e), e);
    char *p = print_str(&c);
    const char *secrets[] = {"hunter2", "wJalrXUtnFEMI", "FQoGZXIvYXdzENV", "s3cr3t", "arn:aws"};
    for (size_t i = 0; i < sizeof secrets / sizeof secrets[0]; i++)
        EXPECT_TRUE(strstr(p, secrets[i]) == NULL);
    EXPECT_CONTAINS(p, "coord = {\n  dsn = \"***\";\n  schema = \"lf_test\";\n};\n");
    EXPECT_CONTAINS(p, "  secret_access_key = \"***\";\n  session_token = \"***\";\n");
    EXPECT_CONTAINS(p, "  access_key_id = \"AKIDEXAMPLE\";\n");
    EXPECT_CONTAINS(p, "    copy_credentials = \"***\";\n");
    free(p);
    config_free(&c);

    /* a secret that fails a check is not echoed either */
    EXPECT_LOAD_ERR(MIN_CONF "aws = { secret_access_key = 12; };\n",
                    "logfleet.conf:4: aws.secret_access_key: expected a string, got an integer");
}

/* ---- the table and the docs ------------------------------------------------- */

static void check_table(const struct config_table *t, bool top)
{
    for (size_t i = 0; i < t->n; i++) {
        const struct config_entry *en = &t->entries[i];
        EXPECT_TRUE(en->help && *en->help);
        if (en->kind == CONFIG_KIND_ENUM) EXPECT_TRUE(en->values && en->values[0]);
        if (en->kind == CONFIG_KIND_GROUPS) {
            EXPECT_TRUE(top && en->sub != NULL);
            check_table(en->sub, false);
        }
        if (en->flags & CONFIG_F_REQUIRED) EXPECT_TRUE(en->def == NULL);
        size_t gi = strcspn(en->name, ".");
        for (size_t j = 0; j < i; j++) {
            const struct config_entry *o = &t->entries[j];
            EXPECT_TRUE(strcmp(o->name, en->name) != 0);
            char ev[128], ov[128];
            config_env_name(en, ev, sizeof ev);
            config_env_name(o, ov, sizeof ov);
            EXPECT_TRUE(strcmp(ev, ov) != 0);
            /* a group's keys are contiguous: a group seen before must be the previous row's */
            if (en->name[gi] && strlen(o->name) > gi && !strncmp(o->name, en->name, gi + 1)) {
                size_t pg = strcspn(t->entries[i - 1].name, ".");
                EXPECT_TRUE(pg == gi && !strncmp(t->entries[i - 1].name, en->name, gi + 1));
            }
        }
    }
}

TEST(config_table_is_sane)
{
    const struct config_table *t = config_table();
    ASSERT_TRUE(t->n >= 36);
    check_table(t, true);
    char env[128];
    config_env_name(&t->entries[3], env, sizeof env);
    EXPECT_EQ_STR(t->entries[3].name, "coord.dsn");
    EXPECT_EQ_STR(env, "LOGFLEET_COORD_DSN");
}

TEST(config_doc_markdown_lists_every_key)
{
    char *p = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&p, &n);
    EXPECT_EQ_INT(config_doc_markdown(f), 0);
    fclose(f);
    EXPECT_CONTAINS(p, "# logfleet configuration reference\n");
    EXPECT_CONTAINS(p, "\n## `aws` — AWS client\n");
    EXPECT_CONTAINS(p, "| `aws.max_attempts` | integer | `5` | 1 … 20 | "
                       "`LOGFLEET_AWS_MAX_ATTEMPTS` | Tries per AWS request, the first included. |\n");
    EXPECT_CONTAINS(p, "| `coord.dsn` | string, secret | **required** |");
    EXPECT_CONTAINS(p, "| `backends[].dialect` | enum | **required** | `redshift`, `postgres` | — |");
    EXPECT_CONTAINS(p, "`LOGFLEET_BACKENDS` replaces the whole list");
    const struct config_table *t = config_table();
    for (size_t i = 0; i < t->n; i++) {
        char key[128];
        snprintf(key, sizeof key, "| `%s` |", t->entries[i].name);
        if (t->entries[i].kind != CONFIG_KIND_GROUPS) EXPECT_CONTAINS(p, key);
    }
    free(p);
}

/* The local stack's config file (tests/stack/up) is one this module accepts. */
ITEST(config_loads_stack_conf)
{
    char path[512];
    snprintf(path, sizeof path, "%s", t_env("LOGFLEET_CONF"));
    clear_env();
    struct lf_config c;
    struct err e = {0};
    ASSERT_OK(config_load(path, &c, &e), e);
    EXPECT_TRUE(*c.s3.endpoint && *c.kinesis.endpoint && *c.coord.dsn);
    config_free(&c);
}


TEST(config_types_list_and_columns)
{
    struct lf_config c;
    struct err e = {0};
    clear_env();
    EXPECT_OK(load(MIN_CONF "types = ( { name = \"login\"; columns = [\"player_id:varchar(64):required\", "
                            "\"lvl:int\", \"ts:timestamp\"]; }, { name = \"chat\"; } );\n",
                   &c, &e), e);
    EXPECT_EQ_INT(c.n_types, 2);
    EXPECT_EQ_STR(c.app, "logfleet");
    EXPECT_TRUE(lf_type_find(&c, "chat", 4) == &c.types[1]);
    EXPECT_TRUE(lf_type_find(&c, "cha", 3) == NULL);
    struct lf_column col;
    EXPECT_EQ_INT(lf_column_parse(c.types[0].columns[0], &col), 0);
    EXPECT_EQ_STR(col.name, "player_id");
    EXPECT_EQ_INT(col.type, LF_COL_VARCHAR);
    EXPECT_EQ_INT(col.length, 64);
    EXPECT_TRUE(col.required);
    EXPECT_EQ_INT(lf_column_parse("lvl:int", &col), 0);
    EXPECT_EQ_INT(col.type, LF_COL_INT);
    EXPECT_TRUE(!col.required);
    EXPECT_EQ_INT(lf_column_parse("x:varchar(0)", &col), -1);
    EXPECT_EQ_INT(lf_column_parse("x:varchar(12", &col), -1);
    EXPECT_EQ_INT(lf_column_parse("x:intx", &col), -1);
    EXPECT_EQ_INT(lf_column_parse("X:int", &col), -1);
    EXPECT_EQ_INT(lf_column_parse("x:int:optional", &col), -1);
    config_free(&c);
}

TEST(config_types_errors_name_the_line)
{
    struct lf_config c;
    struct err e = {0};
    clear_env();
    EXPECT_NE_INT(load(MIN_CONF "types = ( { name = \"login\"; columns = [\"lvl:integer\"]; } );\n", &c, &e), 0);
    EXPECT_EQ_STR(e.msg, "logfleet.conf:4: types[0].columns[0]: expected a column \"name:type\" or "
                         "\"name:type:required\" (type: text, varchar(N), int, bigint, double, "
                         "boolean, timestamp), got \"lvl:integer\"");
    config_free(&c);
    EXPECT_NE_INT(load(MIN_CONF "types = ( { name = \"Login; DROP TABLE x\"; } );\n", &c, &e), 0);
    EXPECT_CONTAINS(e.msg, "types[0].name: expected a name matching ^[a-z][a-z0-9_]{0,62}$");
    config_free(&c);
    EXPECT_NE_INT(load(MIN_CONF "router: { buffer_bytes = 2000000; memory_limit_bytes = 1048576L; };\n", &c, &e), 0);
    EXPECT_CONTAINS(e.msg, "router.buffer_bytes: must not exceed router.memory_limit_bytes (1048576), got 2000000");
    config_free(&c);
}
