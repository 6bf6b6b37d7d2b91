-- Several environments (dev, prod …) served by one bot: every audit row names the environment its
-- command ran in (NULL for rows that concern no environment, and for rows written before this).
ALTER TABLE chatops.audit ADD COLUMN environment text NULL;
CREATE INDEX audit_environment_at ON chatops.audit (environment, at DESC);
