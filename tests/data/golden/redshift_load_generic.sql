BEGIN;
LOCK logs.logfleet_loads;
SELECT 1 FROM logs.logfleet_loads WHERE manifest_key = $1;
-- $1 = 'prod/manifests/chat/2025/01/02/chat-20250102-124.manifest'
CREATE TEMP TABLE logfleet_stage (doc super);
COPY logfleet_stage FROM 's3://logs/prod/manifests/chat/2025/01/02/chat-20250102-124.manifest' IAM_ROLE 'arn:aws:iam::123456789012:role/RedshiftLoad' FORMAT AS JSON 'noshred' GZIP MANIFEST COMPUPDATE OFF STATUPDATE OFF;
INSERT INTO logs.chat_20250102 (event_time, payload, _shard, _seq, _subseq, _arrival) SELECT CASE WHEN is_varchar(doc."ts") THEN CAST(doc."ts" AS varchar)::timestamp ELSE TIMESTAMP 'epoch' + doc._arrival::bigint / 1000 * INTERVAL '1 second' END, doc, doc._shard::varchar(64), doc._seq::varchar(128), doc._subseq::bigint, doc._arrival::bigint FROM logfleet_stage;
INSERT INTO logs.logfleet_loads (manifest_key, target, loaded_at, rows) VALUES ($1, $2, getdate(), pg_last_copy_count());
-- $1 = 'prod/manifests/chat/2025/01/02/chat-20250102-124.manifest'
-- $2 = 'chat_20250102'
SELECT pg_last_copy_count();
DROP TABLE logfleet_stage;
COMMIT;
