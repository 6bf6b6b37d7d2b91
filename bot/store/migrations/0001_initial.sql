-- The bot's own state: operations (the approval state machine) and the audit trail.
CREATE TABLE chatops.operations (
    id                uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    command           text NOT NULL,
    args              jsonb NOT NULL DEFAULT '{}'::jsonb,
    text              text NOT NULL,
    requester         text NOT NULL,
    channel           text NOT NULL,
    environment       text NOT NULL,
    target            text NULL,
    state             text NOT NULL CHECK (state IN ('requested', 'approved', 'denied', 'expired', 'running',
                                                     'succeeded', 'failed', 'interrupted', 'blocked')),
    approval_required boolean NOT NULL DEFAULT false,
    plan              jsonb NULL,
    plan_fingerprint  text NULL,
    approver          text NULL,
    decided_at        timestamptz NULL,
    expires_at        timestamptz NULL,
    started_at        timestamptz NULL,
    finished_at       timestamptz NULL,
    created_at        timestamptz NOT NULL DEFAULT now(),
    message_channel   text NULL,
    message_ts        text NULL,
    result            jsonb NULL,
    error             text NULL
);

CREATE INDEX operations_state_idx ON chatops.operations (state);
CREATE INDEX operations_created_at_idx ON chatops.operations (created_at DESC);

CREATE TABLE chatops.audit (
    id            bigserial PRIMARY KEY,
    at            timestamptz NOT NULL DEFAULT now(),
    operation_id  uuid NULL REFERENCES chatops.operations (id),
    actor         text NOT NULL,
    command       text NOT NULL,
    args          jsonb NOT NULL DEFAULT '{}'::jsonb,
    outcome       text NOT NULL CHECK (outcome IN ('blocked', 'refused', 'requested', 'approved', 'denied',
                                                   'expired', 'dry-run', 'succeeded', 'failed', 'interrupted',
                                                   'read')),
    approver      text NULL,
    detail        text NULL,
    duration_ms   integer NULL
);

CREATE INDEX audit_at_idx ON chatops.audit (at DESC);
