/* t_props.c — KCL .properties parsing: Java's text format and the KCL keys. */
#include "common/buf.h"
#include "worker/properties.h"
#include "tests/t.h"

#include <stdint.h>

/* Collects "key=[value]@line\n" for each pair. */
static int collect(void *ctx, const char *key, const char *value, int line, struct err *e)
{
    (void)e;
    return buf_printf(ctx, "%s=[%s]@%d\n", key, value, line);
}

static char *scan(const char *text)
{
    static struct buf b;
    struct err e = {0};
    buf_free(&b);
    buf_init(&b, 1 << 20);
    buf_puts(&b, "");
    int rc = kcl_props_scan(text, strlen(text), "t.properties", collect, &b, &e);
    if (rc != 0) {
        buf_reset(&b);
        buf_printf(&b, "ERROR %s", e.msg);
    }
    return b.data;
}

TEST(props_format_separators_and_comments)
{
    EXPECT_EQ_STR(scan("a = 1\n"
                       "b:2\n"
                       "c 3\n"
                       "  d\t=\t4  \n"
                       "# comment = x\n"
                       "   ! also a comment\n"
                       "\n"
                       "e\n"
                       "f=\n"
                       "g = = h\n"
                       "i : : j\n"
                       "k   l m\n"),
                  "a=[1]@1\nb=[2]@2\nc=[3]@3\nd=[4  ]@4\ne=[]@8\nf=[]@9\ng=[= h]@10\n"
                  "i=[: j]@11\nk=[l m]@12\n");
}

TEST(props_format_line_endings_and_continuation)
{
    EXPECT_EQ_STR(scan("a=1\r\nb=2\rc=3\n"), "a=[1]@1\nb=[2]@2\nc=[3]@3\n");
    /* odd trailing backslashes continue; leading blanks of the next line go */
    EXPECT_EQ_STR(scan("cmd = python3 \\\n     app.py \\\n\t--x\nnext=1\n"),
                  "cmd=[python3 app.py --x]@1\nnext=[1]@4\n");
    /* an even count is an escaped backslash, not a continuation */
    EXPECT_EQ_STR(scan("p = C:\\\\dir\\\\\nq=2\n"), "p=[C:\\dir\\]@1\nq=[2]@2\n");
    /* a '#' on a continuation line is data; a comment never continues */
    EXPECT_EQ_STR(scan("a = x\\\n  # y\n# c \\\nb = 2\n"), "a=[x# y]@1\nb=[2]@4\n");
    /* a backslash at end of input is dropped */
    EXPECT_EQ_STR(scan("a = x\\"), "a=[x]@1\n");
    EXPECT_EQ_STR(scan("a = x\\\n\nb=1"), "a=[x]@1\nb=[1]@3\n");
}

TEST(props_format_escapes_and_quotes)
{
    EXPECT_EQ_STR(scan("key\\ with\\=odd\\:chars = v\n"), "key with=odd:chars=[v]@1\n");
    EXPECT_EQ_STR(scan("t = a\\tb\\nc\\qd\n"), "t=[a\tb\ncqd]@1\n");
    EXPECT_EQ_STR(scan("u = caf\\u00e9 \\u20AC \\uD83D\\uDE00\n"),
                  "u=[caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80]@1\n");
    EXPECT_EQ_STR(scan("workerId = \"w1\"\n"), "workerId=[\"w1\"]@1\n");
    EXPECT_CONTAINS(scan("a = 1\nb = \\u12G4\n"), "ERROR t.properties:2: malformed \\uxxxx");
    EXPECT_CONTAINS(scan("b = \\u12"), "ERROR t.properties:1: malformed");
}

/* kclpy samples/sample.properties, as quoted in reference/kcl.md §A.2. */
static const char sample[] =
    "executableName = sample_kclpy_app.py\n"
    "streamName = kclpysample\n"
    "applicationName = PythonKCLSample\n"
    "AwsCredentialsProvider = DefaultCredentialsProvider\n"
    "processingLanguage = python/3.8\n"
    "initialPositionInStream = TRIM_HORIZON\n"
    "regionName = us-east-1\n";

TEST(props_kclpy_sample)
{
    struct kcl_props p;
    struct err e = {0};
    ASSERT_OK(kcl_props_parse(sample, strlen(sample), "sample.properties", &p, &e), e);
    EXPECT_EQ_STR(p.executable_name, "sample_kclpy_app.py");
    EXPECT_EQ_STR(p.stream_name, "kclpysample");
    EXPECT_EQ_STR(p.application_name, "PythonKCLSample");
    EXPECT_EQ_STR(p.table_name, "PythonKCLSample");
    EXPECT_EQ_STR(p.credentials_provider, "DefaultCredentialsProvider");
    EXPECT_EQ_STR(p.region_name, "us-east-1");
    EXPECT_EQ_INT(p.initial_position, KCL_POS_TRIM_HORIZON);
    EXPECT_TRUE(p.worker_id == NULL && p.kinesis_endpoint == NULL && p.stream_arn == NULL);
    EXPECT_EQ_INT(p.n_unknown, 1);
    if (p.n_unknown == 1) {
        EXPECT_EQ_STR(p.unknown[0].key, "processingLanguage");
        EXPECT_EQ_STR(p.unknown[0].value, "python/3.8");
        EXPECT_EQ_INT(p.unknown[0].line, 5);
    }
    EXPECT_EQ_INT(p.n_warnings, 0);
    /* defaults */
    EXPECT_EQ_INT(p.failover_time_ms, 10000);
    EXPECT_EQ_INT(p.max_records, 10000);
    EXPECT_EQ_INT(p.idle_time_between_reads_ms, 1500);
    EXPECT_EQ_INT(p.shard_sync_interval_ms, 60000);
    EXPECT_EQ_INT(p.timeout_s, 0);
    EXPECT_EQ_INT(p.shutdown_grace_ms, 0);
    EXPECT_EQ_INT(p.call_process_records_even_for_empty_record_list, 0);
    EXPECT_EQ_INT(p.parent_shard_poll_interval_ms, 10000);
    EXPECT_EQ_INT(p.cleanup_leases_upon_shard_completion, 1);
    EXPECT_EQ_INT(p.max_leases_for_worker, INT32_MAX);
    EXPECT_EQ_INT(p.max_leases_to_steal_at_one_time, 1);
    EXPECT_EQ_INT(p.task_backoff_time_ms, 500);
    EXPECT_EQ_INT(p.graceful_lease_handoff_enabled, 1);
    EXPECT_EQ_INT(p.graceful_lease_handoff_timeout_ms, 30000);
    kcl_props_free(&p);
}

static const char *parse_err(const char *text)
{
    static struct err e;
    struct kcl_props p;
    memset(&e, 0, sizeof e);
    if (kcl_props_parse(text, strlen(text), "app.properties", &p, &e) == 0) {
        kcl_props_free(&p);
        return "(parsed)";
    }
    return e.msg;
}

#define BASE "executableName = node app.js\napplicationName = a\nstreamName = s\n"

TEST(props_invalid_values_name_file_line_key)
{
    EXPECT_EQ_STR(parse_err(BASE "failoverTimeMillis = ten\n"),
                  "app.properties:4: failoverTimeMillis: expected an integer, got \"ten\"");
    EXPECT_EQ_STR(parse_err(BASE "maxRecords = 10001\n"),
                  "app.properties:4: maxRecords: expected an integer from 1 to 10000, got \"10001\"");
    EXPECT_EQ_STR(parse_err(BASE "shardSyncIntervalMillis = 99999999999999999999\n"),
                  "app.properties:4: shardSyncIntervalMillis: expected an integer, got "
                  "\"99999999999999999999\"");
    EXPECT_CONTAINS(parse_err(BASE "\n\ninitialPositionInStream = AT_TIMESTAMP\n"),
                    "app.properties:6: initialPositionInStream: expected TRIM_HORIZON or LATEST");
    EXPECT_CONTAINS(parse_err(BASE "initialPositionInStreamExtended = yesterday\n"),
                    "app.properties:4: initialPositionInStreamExtended: expected an integer");
    EXPECT_CONTAINS(parse_err(BASE "timeoutInSeconds = -1\n"), "timeoutInSeconds: expected an integer from 0");
    EXPECT_EQ_STR(parse_err("applicationName = a\nstreamName = s\n"),
                  "app.properties: executableName is required");
    EXPECT_EQ_STR(parse_err("executableName = x\napplicationName =   \nstreamName = s\n"),
                  "app.properties: applicationName is required");
    EXPECT_EQ_STR(parse_err("executableName = x\napplicationName = a\n"),
                  "app.properties: streamName or streamArn is required");
    EXPECT_CONTAINS(parse_err(BASE "streamArn = arn:aws:s3:::bucket\n"),
                    "app.properties: streamArn: expected arn:");
    EXPECT_CONTAINS(parse_err(BASE "streamArn = arn:aws:kinesis:us-east-1:1234:stream/x\n"), "streamArn");
}

TEST(props_typed_values)
{
    const char *t = "executableName = python3 app.py\n"
                    "applicationName = app\n"
                    "streamName = ignored\n"
                    "streamArn = arn:aws:kinesis:eu-west-1:123456789012:stream/logs-prod\n"
                    "tableName = leases\n"
                    "initialPositionInStream = latest\n"
                    "initialPositionInStreamExtended = 1717000000\n"
                    "failoverTimeMillis = 20000 \n"
                    "maxRecords=+500\n"
                    "timeoutInSeconds: 30\n"
                    "callProcessRecordsEvenForEmptyRecordList = TRUE\n"
                    "cleanupLeasesUponShardCompletion = off\n"
                    "isGracefulLeaseHandoffEnabled = ture\n"
                    "maxLeasesForWorker = 7\n"
                    "kinesisEndpoint = http://127.0.0.1:4567\n"
                    "workerId = \"w1\"\n"
                    "awscredentialsprovider = ProfileCredentialsProvider|dev\n"
                    "AwsCredentialsProviderDynamoDB = DefaultCredentialsProvider\n"
                    "ExecutableName = case matters\n"
                    "maxRecords = 250\n";
    struct kcl_props p;
    struct err e = {0};
    ASSERT_OK(kcl_props_parse(t, strlen(t), "x.properties", &p, &e), e);
    EXPECT_EQ_STR(p.executable_name, "python3 app.py");
    EXPECT_EQ_STR(p.stream_name, "logs-prod");
    EXPECT_EQ_STR(p.stream_arn, "arn:aws:kinesis:eu-west-1:123456789012:stream/logs-prod");
    EXPECT_EQ_STR(p.table_name, "leases");
    EXPECT_EQ_INT(p.initial_position, KCL_POS_AT_TIMESTAMP);
    EXPECT_EQ_INT(p.initial_timestamp_ms, 1717000000000LL);
    EXPECT_EQ_INT(p.failover_time_ms, 20000);
    EXPECT_EQ_INT(p.max_records, 250); /* the last one wins */
    EXPECT_EQ_INT(p.timeout_s, 30);
    EXPECT_EQ_INT(p.call_process_records_even_for_empty_record_list, 1);
    EXPECT_EQ_INT(p.cleanup_leases_upon_shard_completion, 0);
    EXPECT_EQ_INT(p.graceful_lease_handoff_enabled, 0);
    EXPECT_EQ_INT(p.max_leases_for_worker, 7);
    EXPECT_EQ_STR(p.kinesis_endpoint, "http://127.0.0.1:4567");
    EXPECT_EQ_STR(p.worker_id, "\"w1\"");
    EXPECT_EQ_STR(p.credentials_provider, "ProfileCredentialsProvider|dev");
    EXPECT_EQ_INT(p.n_unknown, 2);
    if (p.n_unknown == 2) {
        EXPECT_EQ_STR(p.unknown[0].key, "AwsCredentialsProviderDynamoDB");
        EXPECT_EQ_STR(p.unknown[1].key, "ExecutableName");
        EXPECT_EQ_INT(p.unknown[1].line, 19);
    }
    EXPECT_EQ_INT(p.n_warnings, 2);
    if (p.n_warnings == 2) {
        EXPECT_EQ_STR(p.warnings[0], "x.properties:13: isGracefulLeaseHandoffEnabled: \"ture\" is not "
                                     "a boolean; read as false, as KCL does");
        EXPECT_CONTAINS(p.warnings[1], "using AT_TIMESTAMP");
    }
    kcl_props_free(&p);
    kcl_props_free(&p); /* safe twice */
}

TEST(props_load_file)
{
    char path[512];
    snprintf(path, sizeof path, "%s/app.properties", t_tmpdir());
    FILE *f = fopen(path, "w");
    ASSERT_TRUE(f != NULL);
    fputs(sample, f);
    fputs("initialPositionInStream = LATEST\n", f);
    fclose(f);
    struct kcl_props p;
    struct err e = {0};
    ASSERT_OK(kcl_props_load(path, &p, &e), e);
    EXPECT_EQ_INT(p.initial_position, KCL_POS_LATEST);
    EXPECT_EQ_STR(p.application_name, "PythonKCLSample");
    kcl_props_free(&p);
    EXPECT_TRUE(kcl_props_load("/nonexistent/app.properties", &p, &e) < 0);
    EXPECT_EQ_STR(e.msg, "/nonexistent/app.properties: cannot open: No such file or directory");
}

TEST(props_split_command)
{
    char **argv = NULL;
    struct err e = {0};
    EXPECT_EQ_INT(kcl_props_split_command("python3   app.py  --flag x ", &argv, &e), 4);
    ASSERT_TRUE(argv != NULL);
    EXPECT_EQ_STR(argv[0], "python3");
    EXPECT_EQ_STR(argv[1], "app.py");
    EXPECT_EQ_STR(argv[2], "--flag");
    EXPECT_EQ_STR(argv[3], "x");
    EXPECT_TRUE(argv[4] == NULL);
    kcl_props_free_argv(argv);
    /* no shell, no quoting: quotes stay, tabs do not split */
    EXPECT_EQ_INT(kcl_props_split_command("sh -c \"echo hi\"", &argv, &e), 4);
    EXPECT_EQ_STR(argv[2], "\"echo");
    EXPECT_EQ_STR(argv[3], "hi\"");
    kcl_props_free_argv(argv);
    EXPECT_EQ_INT(kcl_props_split_command("a\tb", &argv, &e), 1);
    EXPECT_EQ_STR(argv[0], "a\tb");
    kcl_props_free_argv(argv);
    EXPECT_TRUE(kcl_props_split_command("   ", &argv, &e) < 0);
    EXPECT_TRUE(argv == NULL);
    EXPECT_CONTAINS(e.msg, "executableName is empty");
}
