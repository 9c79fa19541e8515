CREATE SCHEMA IF NOT EXISTS logs;
CREATE TABLE IF NOT EXISTS logs.logfleet_loads (manifest_key varchar(1024) NOT NULL, target varchar(128) NOT NULL, loaded_at timestamp NOT NULL, rows bigint, PRIMARY KEY (manifest_key));
