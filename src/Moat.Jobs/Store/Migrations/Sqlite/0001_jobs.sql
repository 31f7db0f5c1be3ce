-- The schema SqliteJobStore created before migrations existed; IF NOT EXISTS lets a store written by that version adopt it.
CREATE TABLE IF NOT EXISTS jobs (
    id INTEGER PRIMARY KEY, owner TEXT NOT NULL, command TEXT NOT NULL, args TEXT NOT NULL, tasks INTEGER NOT NULL,
    labels TEXT NOT NULL, memory_mb INTEGER NOT NULL, cpus REAL NOT NULL, priority INTEGER NOT NULL,
    max_retries INTEGER NOT NULL, redundancy INTEGER NOT NULL, timeout_ms INTEGER NOT NULL, state TEXT NOT NULL,
    created INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS tasks (
    id INTEGER PRIMARY KEY, job INTEGER NOT NULL REFERENCES jobs(id), idx INTEGER NOT NULL, replica INTEGER NOT NULL,
    priority INTEGER NOT NULL, state INTEGER NOT NULL, attempt INTEGER NOT NULL DEFAULT 0, failures INTEGER NOT NULL DEFAULT 0,
    worker TEXT, manager TEXT, exit_code INTEGER, output TEXT);
CREATE INDEX IF NOT EXISTS tasks_queue ON tasks(state, priority DESC, id);
CREATE INDEX IF NOT EXISTS tasks_job ON tasks(job, idx);
CREATE INDEX IF NOT EXISTS tasks_worker ON tasks(worker, state);
CREATE TABLE IF NOT EXISTS results (task INTEGER PRIMARY KEY, attempt INTEGER NOT NULL, exit_code INTEGER NOT NULL);
