CREATE TABLE jobs (
    id BIGSERIAL PRIMARY KEY, owner TEXT NOT NULL, command TEXT NOT NULL, args TEXT NOT NULL, tasks INTEGER NOT NULL,
    labels TEXT NOT NULL, memory_mb INTEGER NOT NULL, cpus DOUBLE PRECISION NOT NULL, priority INTEGER NOT NULL,
    max_retries INTEGER NOT NULL, redundancy INTEGER NOT NULL, timeout_ms BIGINT NOT NULL, state TEXT NOT NULL,
    created BIGINT NOT NULL);
CREATE TABLE tasks (
    id BIGSERIAL PRIMARY KEY, job BIGINT NOT NULL REFERENCES jobs(id), idx INTEGER NOT NULL, replica INTEGER NOT NULL,
    priority INTEGER NOT NULL, state INTEGER NOT NULL, attempt INTEGER NOT NULL DEFAULT 0, failures INTEGER NOT NULL DEFAULT 0,
    worker TEXT, manager TEXT, exit_code INTEGER, output TEXT);
CREATE INDEX tasks_queue ON tasks(state, priority DESC, id);
CREATE INDEX tasks_job ON tasks(job, idx);
CREATE INDEX tasks_worker ON tasks(worker, state);
CREATE TABLE results (task BIGINT PRIMARY KEY REFERENCES tasks(id), attempt INTEGER NOT NULL, exit_code INTEGER NOT NULL);
