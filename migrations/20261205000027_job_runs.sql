-- One row per background job (grants, people sync, mail, ...): how its last run went, where it
-- ran and when it is next due, as the job runner records them and `/readyz` and the
-- administration page show them. Replicas share the row: it is the job's, not a process's.
create table job_runs (
    job          text primary key,
    worker       text not null,
    started_at   timestamptz not null,
    finished_at  timestamptz not null,
    -- The last run that ended without an error; null until one has.
    ok_at        timestamptz,
    -- The error of the last run, null when it succeeded.
    error        text,
    -- Runs in a row that ended in an error (0 after a success).
    failures     integer not null default 0,
    next_due_at  timestamptz not null
);
