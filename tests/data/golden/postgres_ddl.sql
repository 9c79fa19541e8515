CREATE SCHEMA IF NOT EXISTS logs;
CREATE TABLE IF NOT EXISTS logs.logfleet_loads (manifest_key text PRIMARY KEY, target text NOT NULL, loaded_at timestamptz NOT NULL DEFAULT now(), rows bigint);
CREATE TABLE IF NOT EXISTS logs.login_20250102 (ts timestamptz NOT NULL, player_id varchar(64) NOT NULL, platform varchar(16), level integer, gold bigint, score double precision, vip boolean, note text, _shard varchar(64) NOT NULL, _seq varchar(128) NOT NULL, _subseq bigint NOT NULL, _arrival bigint, UNIQUE (_shard, _seq, _subseq));
CREATE TABLE IF NOT EXISTS logs.chat_20250102 (event_time timestamptz, payload jsonb NOT NULL, _shard varchar(64) NOT NULL, _seq varchar(128) NOT NULL, _subseq bigint NOT NULL, _arrival bigint, UNIQUE (_shard, _seq, _subseq));
CREATE OR REPLACE VIEW logs.login AS SELECT ts, player_id, platform, level, gold, score, vip, note, _shard, _seq, _subseq, _arrival FROM logs.login_20250101 UNION ALL SELECT ts, player_id, platform, level, gold, score, vip, note, _shard, _seq, _subseq, _arrival FROM logs.login_20250102;
DROP TABLE IF EXISTS logs.login_20241203;
