BEGIN;
INSERT INTO logs.logfleet_loads (manifest_key, target, loaded_at, rows) VALUES ($1, $2, now(), 0) ON CONFLICT (manifest_key) DO NOTHING;
-- $1 = 'prod/manifests/login/2025/01/02/login-20250102-123.manifest'
-- $2 = 'login_20250102'
CREATE TEMP TABLE logfleet_stage (doc text) ON COMMIT DROP;
COPY logfleet_stage (doc) FROM STDIN WITH (FORMAT csv, QUOTE e'\x01', DELIMITER e'\x02');
INSERT INTO logs.login_20250102 (ts, player_id, platform, level, gold, score, vip, note, _shard, _seq, _subseq, _arrival) SELECT CASE jsonb_typeof(d->'ts') WHEN 'string' THEN (d->>'ts')::timestamptz WHEN 'number' THEN to_timestamp((d->>'ts')::double precision / CASE WHEN (d->>'ts')::double precision >= 100000000000 THEN 1000 ELSE 1 END) END, (d->>'player_id')::varchar(64), (d->>'platform')::varchar(16), (d->>'level')::numeric::integer, (d->>'gold')::numeric::bigint, (d->>'score')::double precision, (d->>'vip')::boolean, d->>'note', d->>'_shard', d->>'_seq', (d->>'_subseq')::bigint, (d->>'_arrival')::bigint FROM (SELECT doc::jsonb AS d FROM logfleet_stage WHERE doc IS NOT NULL) s ON CONFLICT DO NOTHING;
UPDATE logs.logfleet_loads SET rows = $2 WHERE manifest_key = $1;
-- $1 = 'prod/manifests/login/2025/01/02/login-20250102-123.manifest'
-- $2 = '0'
COMMIT;
BEGIN;
INSERT INTO logs.logfleet_loads (manifest_key, target, loaded_at, rows) VALUES ($1, $2, now(), 0) ON CONFLICT (manifest_key) DO NOTHING;
-- $1 = 'prod/manifests/chat/2025/01/02/chat-20250102-124.manifest'
-- $2 = 'chat_20250102'
CREATE TEMP TABLE logfleet_stage (doc text) ON COMMIT DROP;
COPY logfleet_stage (doc) FROM STDIN WITH (FORMAT csv, QUOTE e'\x01', DELIMITER e'\x02');
INSERT INTO logs.chat_20250102 (event_time, payload, _shard, _seq, _subseq, _arrival) SELECT coalesce(CASE jsonb_typeof(d->'ts') WHEN 'string' THEN (d->>'ts')::timestamptz WHEN 'number' THEN to_timestamp((d->>'ts')::double precision / CASE WHEN (d->>'ts')::double precision >= 100000000000 THEN 1000 ELSE 1 END) END, to_timestamp((d->>'_arrival')::double precision / 1000)), d, d->>'_shard', d->>'_seq', (d->>'_subseq')::bigint, (d->>'_arrival')::bigint FROM (SELECT doc::jsonb AS d FROM logfleet_stage WHERE doc IS NOT NULL) s ON CONFLICT DO NOTHING;
UPDATE logs.logfleet_loads SET rows = $2 WHERE manifest_key = $1;
-- $1 = 'prod/manifests/chat/2025/01/02/chat-20250102-124.manifest'
-- $2 = '0'
COMMIT;
