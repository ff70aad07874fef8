-- Browser sessions (tower-sessions' PostgreSQL store). Created here rather than by the store at
-- start-up so that all schema changes go through one migration history.
create table web_sessions (
    id          text primary key not null,
    data        bytea not null,
    expiry_date timestamptz not null
);

create index web_sessions_expiry on web_sessions (expiry_date);
