-- Silences of alerts, typed (`alerts silence`) or clicked (an alert's Silence button): shared by every
-- replica, kept across restarts, over on their own at `expires_at` (or earlier, by `alerts unsilence`).
CREATE TABLE chatops.alert_silences (
    id                      uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    matcher_kind            text NOT NULL CHECK (matcher_kind IN ('component', 'alert')),
    matcher                 text NOT NULL,          -- a component name, or an alert's fingerprint
    shown_as                text NOT NULL,          -- what was silenced, as typed (component or alert id)
    reason                  text NOT NULL DEFAULT '',
    created_by              text NOT NULL,
    created_at              timestamptz NOT NULL DEFAULT now(),
    expires_at              timestamptz NOT NULL,
    ended_at                timestamptz NULL,
    ended_by                text NULL,
    alertmanager_silence_id text NULL               -- the silence created in Alertmanager, if any
);
CREATE INDEX alert_silences_active ON chatops.alert_silences (expires_at) WHERE ended_at IS NULL;
