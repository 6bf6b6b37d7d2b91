-- Schedules: one row per configured schedule; the claim of a due time is one conditional UPDATE, so a
-- run happens once per due time even if two replicas both believe they lead, and never overlaps itself.
CREATE TABLE chatops.schedules (
    name              text PRIMARY KEY,
    created_at        timestamptz NOT NULL DEFAULT now(),
    paused            boolean NOT NULL DEFAULT false,
    last_due_at       timestamptz NULL,
    running_since     timestamptz NULL,
    last_started_at   timestamptz NULL,
    last_finished_at  timestamptz NULL,
    last_outcome      text NULL CHECK (last_outcome IN ('succeeded', 'failed', 'refused')),
    last_summary      text NULL,
    last_operation_id uuid NULL REFERENCES chatops.operations (id)
);
