BEGIN;
LOCK logs.logfleet_loads;
SELECT 1 FROM logs.logfleet_loads WHERE manifest_key = $1;
-- $1 = 'prod/manifests/login/2025/01/02/login-20250102-123.manifest'
COPY logs.login_20250102 (ts, player_id, platform, level, gold, score, vip, note, _shard, _seq, _subseq, _arrival) FROM 's3://logs/prod/manifests/login/2025/01/02/login-20250102-123.manifest' IAM_ROLE 'arn:aws:iam::123456789012:role/RedshiftLoad' FORMAT AS JSON 'auto ignorecase' GZIP MANIFEST TIMEFORMAT 'auto' TRUNCATECOLUMNS COMPUPDATE OFF STATUPDATE OFF;
INSERT INTO logs.logfleet_loads (manifest_key, target, loaded_at, rows) VALUES ($1, $2, getdate(), pg_last_copy_count());
-- $1 = 'prod/manifests/login/2025/01/02/login-20250102-123.manifest'
-- $2 = 'login_20250102'
SELECT pg_last_copy_count();
COMMIT;
