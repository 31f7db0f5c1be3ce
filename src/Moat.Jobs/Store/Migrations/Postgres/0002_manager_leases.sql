-- Each manager holds a lease it renews; the tasks of a manager whose lease ran out go back to the queue.
CREATE TABLE managers (id TEXT PRIMARY KEY, lease_until BIGINT NOT NULL);
CREATE INDEX tasks_manager ON tasks(manager, state);
