-- The LiteMaaS backend schema (rh-aiservices-bu/litemaas v0.4.0, backend/src/lib/database-migrations.ts),
-- written from litemaas-facts.md §1. The code is authoritative, not the upstream docs: foreign keys carry
-- exactly the ON DELETE behaviour of §1.10 (users → most children CASCADE; models → subscriptions has NO
-- action, so deleting a model that still has subscriptions fails with subscriptions_model_id_fkey).
-- Idempotent like the backend's own script: running it twice changes nothing. Table names are plain
-- lower case, so they never collide with LiteLLM's quoted "LiteLLM_…" tables in a shared database.

CREATE EXTENSION IF NOT EXISTS pgcrypto;  -- the backend's key_hash fix creates it (digest())

-- §1.1 users
CREATE TABLE IF NOT EXISTS users (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    username VARCHAR(255) UNIQUE NOT NULL,
    email VARCHAR(255) UNIQUE NOT NULL,
    full_name VARCHAR(255),
    oauth_provider VARCHAR(50) NOT NULL,
    oauth_id VARCHAR(255) NOT NULL,
    roles TEXT[] DEFAULT ARRAY['user'],
    is_active BOOLEAN DEFAULT true,
    max_budget DECIMAL(10,2) DEFAULT 100.00,
    tpm_limit INTEGER DEFAULT 10000,
    rpm_limit INTEGER DEFAULT 60,
    sync_status VARCHAR(20) DEFAULT 'pending'
        CONSTRAINT users_sync_status_check CHECK (sync_status IN ('pending', 'synced', 'error')),
    last_login_at TIMESTAMP WITH TIME ZONE,
    created_at TIMESTAMP WITH TIME ZONE DEFAULT CURRENT_TIMESTAMP,
    updated_at TIMESTAMP WITH TIME ZONE DEFAULT CURRENT_TIMESTAMP,
    budget_duration VARCHAR(20),
    UNIQUE (oauth_provider, oauth_id)
);
CREATE INDEX IF NOT EXISTS idx_users_email ON users(email);
CREATE INDEX IF NOT EXISTS idx_users_username ON users(username);
CREATE INDEX IF NOT EXISTS idx_users_oauth ON users(oauth_provider, oauth_id);

-- The system user, status_changed_by of automated changes.
INSERT INTO users (id, username, email, oauth_provider, oauth_id, is_active, roles)
VALUES ('00000000-0000-0000-0000-000000000001', 'system', 'system@litemaas.internal', 'system', 'system',
        false, '{}')
ON CONFLICT (id) DO NOTHING;

-- §1.2 teams
CREATE TABLE IF NOT EXISTS teams (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    name VARCHAR(255) NOT NULL,
    alias VARCHAR(255),
    description TEXT,
    lite_llm_team_id VARCHAR(255),
    max_budget DECIMAL(10,2),
    current_spend DECIMAL(10,2) DEFAULT 0,
    budget_duration VARCHAR(20) DEFAULT 'monthly',
    tpm_limit INTEGER,
    rpm_limit INTEGER,
    allowed_models TEXT[],
    metadata JSONB DEFAULT '{}',
    is_active BOOLEAN DEFAULT true,
    created_at TIMESTAMP WITH TIME ZONE DEFAULT CURRENT_TIMESTAMP,
    updated_at TIMESTAMP WITH TIME ZONE DEFAULT CURRENT_TIMESTAMP,
    created_by UUID REFERENCES users(id)
);
CREATE INDEX IF NOT EXISTS idx_teams_name ON teams(name);
CREATE INDEX IF NOT EXISTS idx_teams_alias ON teams(alias);
CREATE INDEX IF NOT EXISTS idx_teams_lite_llm ON teams(lite_llm_team_id);
CREATE INDEX IF NOT EXISTS idx_teams_created_by ON teams(created_by);

-- §1.3 team_members
CREATE TABLE IF NOT EXISTS team_members (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    team_id UUID NOT NULL REFERENCES teams(id) ON DELETE CASCADE,
    user_id UUID NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    role VARCHAR(20) NOT NULL CHECK (role IN ('admin', 'member', 'viewer')),
    joined_at TIMESTAMP WITH TIME ZONE DEFAULT CURRENT_TIMESTAMP,
    added_by UUID REFERENCES users(id),
    UNIQUE (team_id, user_id)
);
CREATE INDEX IF NOT EXISTS idx_team_members_team_id ON team_members(team_id);
CREATE INDEX IF NOT EXISTS idx_team_members_user_id ON team_members(user_id);

-- §1.4 models (id = LiteLLM model_name)
CREATE TABLE IF NOT EXISTS models (
    id VARCHAR(255) PRIMARY KEY,
    name VARCHAR(255) NOT NULL,
    provider VARCHAR(100) NOT NULL,
    description TEXT,
    category VARCHAR(100),
    context_length INTEGER,
    input_cost_per_token DECIMAL(15,10),
    output_cost_per_token DECIMAL(15,10),
    supports_vision BOOLEAN DEFAULT false,
    supports_function_calling BOOLEAN DEFAULT false,
    supports_tool_choice BOOLEAN DEFAULT false,
    supports_parallel_function_calling BOOLEAN DEFAULT false,
    supports_streaming BOOLEAN DEFAULT true,
    features TEXT[],
    availability VARCHAR(50) DEFAULT 'available',
    version VARCHAR(50),
    metadata JSONB DEFAULT '{}',
    api_base VARCHAR(500),
    tpm INTEGER,
    rpm INTEGER,
    max_tokens INTEGER,
    litellm_model_id VARCHAR(255),
    created_at TIMESTAMP WITH TIME ZONE DEFAULT CURRENT_TIMESTAMP,
    updated_at TIMESTAMP WITH TIME ZONE DEFAULT CURRENT_TIMESTAMP,
    backend_model_name VARCHAR(255),
    restricted_access BOOLEAN DEFAULT false,
    encrypted_api_key TEXT
);
CREATE INDEX IF NOT EXISTS idx_models_provider ON models(provider);
CREATE INDEX IF NOT EXISTS idx_models_category ON models(category);
CREATE INDEX IF NOT EXISTS idx_models_availability ON models(availability);
CREATE INDEX IF NOT EXISTS idx_models_litellm_model_id ON models(litellm_model_id);
CREATE INDEX IF NOT EXISTS idx_models_restricted_access ON models(restricted_access);

-- §1.5 subscriptions: model_id references models with NO ON DELETE clause (subscriptions_model_id_fkey).
CREATE TABLE IF NOT EXISTS subscriptions (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id UUID NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    model_id VARCHAR(255) NOT NULL CONSTRAINT subscriptions_model_id_fkey REFERENCES models(id),
    team_id UUID REFERENCES teams(id),
    status VARCHAR(20) NOT NULL DEFAULT 'active'
        CONSTRAINT subscriptions_status_check
        CHECK (status IN ('active', 'suspended', 'cancelled', 'expired', 'inactive', 'pending', 'denied')),
    quota_requests INTEGER NOT NULL DEFAULT 0,
    quota_tokens INTEGER NOT NULL DEFAULT 0,
    used_requests INTEGER DEFAULT 0,
    used_tokens INTEGER DEFAULT 0,
    max_budget DECIMAL(10,2),
    current_spend DECIMAL(10,2) DEFAULT 0,
    budget_duration VARCHAR(20) DEFAULT 'monthly',
    tpm_limit INTEGER,
    rpm_limit INTEGER,
    allowed_models TEXT[],
    lite_llm_key_value VARCHAR(255),
    reset_at TIMESTAMP WITH TIME ZONE,
    expires_at TIMESTAMP WITH TIME ZONE,
    last_sync_at TIMESTAMP WITH TIME ZONE,
    sync_status VARCHAR(20) DEFAULT 'pending' CHECK (sync_status IN ('synced', 'pending', 'error')),
    sync_error TEXT,
    created_at TIMESTAMP WITH TIME ZONE DEFAULT CURRENT_TIMESTAMP,
    updated_at TIMESTAMP WITH TIME ZONE DEFAULT CURRENT_TIMESTAMP,
    status_reason TEXT,
    status_changed_at TIMESTAMP WITH TIME ZONE,
    status_changed_by UUID REFERENCES users(id),
    CONSTRAINT unique_user_model_subscription UNIQUE (user_id, model_id)
);
CREATE INDEX IF NOT EXISTS idx_subscriptions_user_id ON subscriptions(user_id);
CREATE INDEX IF NOT EXISTS idx_subscriptions_model_id ON subscriptions(model_id);
CREATE INDEX IF NOT EXISTS idx_subscriptions_team_id ON subscriptions(team_id);
CREATE INDEX IF NOT EXISTS idx_subscriptions_status ON subscriptions(status);
CREATE INDEX IF NOT EXISTS idx_subscriptions_user_model ON subscriptions(user_id, model_id);
CREATE INDEX IF NOT EXISTS idx_subscriptions_active ON subscriptions(status) WHERE status = 'active';
CREATE INDEX IF NOT EXISTS idx_subscriptions_lite_llm_key_value ON subscriptions(lite_llm_key_value);
CREATE INDEX IF NOT EXISTS idx_subscriptions_status_updated ON subscriptions(status, status_changed_at DESC);

-- §1.6 api_keys: key_hash = sha256 hex of the LiteLLM key = "LiteLLM_VerificationToken".token.
CREATE TABLE IF NOT EXISTS api_keys (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    subscription_id UUID REFERENCES subscriptions(id) ON DELETE CASCADE,
    user_id UUID NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    name VARCHAR(255),
    key_hash VARCHAR(255) UNIQUE NOT NULL,
    key_prefix VARCHAR(20) NOT NULL,
    lite_llm_key_value VARCHAR(255),
    permissions JSONB DEFAULT '{}',
    max_budget DECIMAL(10,2),
    current_spend DECIMAL(10,2) DEFAULT 0,
    tpm_limit INTEGER,
    rpm_limit INTEGER,
    tags TEXT[],
    metadata JSONB DEFAULT '{}',
    last_used_at TIMESTAMP WITH TIME ZONE,
    expires_at TIMESTAMP WITH TIME ZONE,
    is_active BOOLEAN DEFAULT true,
    created_at TIMESTAMP WITH TIME ZONE DEFAULT CURRENT_TIMESTAMP,
    updated_at TIMESTAMP WITH TIME ZONE DEFAULT CURRENT_TIMESTAMP,
    revoked_at TIMESTAMP WITH TIME ZONE,
    last_sync_at TIMESTAMP WITH TIME ZONE,
    sync_status VARCHAR(20) DEFAULT 'pending' CHECK (sync_status IN ('synced', 'pending', 'error')),
    sync_error TEXT,
    migration_status VARCHAR(20) DEFAULT 'pending',
    litellm_key_alias VARCHAR(255),
    budget_duration VARCHAR(20),
    soft_budget DECIMAL(10,2),
    budget_reset_at TIMESTAMP WITH TIME ZONE,
    max_parallel_requests INTEGER,
    model_max_budget JSONB,
    model_rpm_limit JSONB,
    model_tpm_limit JSONB
);
CREATE UNIQUE INDEX IF NOT EXISTS idx_api_keys_key_hash ON api_keys(key_hash);
CREATE INDEX IF NOT EXISTS idx_api_keys_subscription_id ON api_keys(subscription_id);
CREATE INDEX IF NOT EXISTS idx_api_keys_user_id ON api_keys(user_id);
CREATE INDEX IF NOT EXISTS idx_api_keys_key_prefix ON api_keys(key_prefix);
CREATE INDEX IF NOT EXISTS idx_api_keys_lite_llm_key_value ON api_keys(lite_llm_key_value);
CREATE INDEX IF NOT EXISTS idx_api_keys_lite_llm_key ON api_keys(lite_llm_key_value);
CREATE INDEX IF NOT EXISTS idx_api_keys_is_active ON api_keys(is_active);
CREATE INDEX IF NOT EXISTS idx_api_keys_litellm_key_alias ON api_keys(litellm_key_alias);

-- §1.7 api_key_models
CREATE TABLE IF NOT EXISTS api_key_models (
    api_key_id UUID NOT NULL REFERENCES api_keys(id) ON DELETE CASCADE,
    model_id VARCHAR(255) NOT NULL REFERENCES models(id) ON DELETE CASCADE,
    created_at TIMESTAMP WITH TIME ZONE DEFAULT CURRENT_TIMESTAMP,
    PRIMARY KEY (api_key_id, model_id)
);
CREATE INDEX IF NOT EXISTS idx_api_key_models_api_key ON api_key_models(api_key_id);
CREATE INDEX IF NOT EXISTS idx_api_key_models_model ON api_key_models(model_id);

-- §1.8 audit_logs: user_id has no ON DELETE, so an audited user cannot be deleted.
CREATE TABLE IF NOT EXISTS audit_logs (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id UUID REFERENCES users(id),
    action VARCHAR(100) NOT NULL,
    resource_type VARCHAR(50) NOT NULL,
    resource_id VARCHAR(255),
    old_values JSONB,
    new_values JSONB,
    ip_address INET,
    user_agent TEXT,
    session_id VARCHAR(255),
    success BOOLEAN DEFAULT true,
    error_message TEXT,
    metadata JSONB DEFAULT '{}',
    created_at TIMESTAMP WITH TIME ZONE DEFAULT CURRENT_TIMESTAMP
);
CREATE INDEX IF NOT EXISTS idx_audit_logs_user_id ON audit_logs(user_id);
CREATE INDEX IF NOT EXISTS idx_audit_logs_action ON audit_logs(action);
CREATE INDEX IF NOT EXISTS idx_audit_logs_resource ON audit_logs(resource_type, resource_id);
CREATE INDEX IF NOT EXISTS idx_audit_logs_created_at ON audit_logs(created_at);

-- §1.9 the other tables
CREATE TABLE IF NOT EXISTS refresh_tokens (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id UUID NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    token VARCHAR(255) UNIQUE NOT NULL,
    expires_at TIMESTAMP WITH TIME ZONE NOT NULL,
    created_at TIMESTAMP WITH TIME ZONE DEFAULT CURRENT_TIMESTAMP,
    revoked_at TIMESTAMP WITH TIME ZONE,
    last_used_at TIMESTAMP WITH TIME ZONE
);
CREATE INDEX IF NOT EXISTS idx_refresh_tokens_user_id ON refresh_tokens(user_id);
CREATE INDEX IF NOT EXISTS idx_refresh_tokens_token ON refresh_tokens(token);
CREATE INDEX IF NOT EXISTS idx_refresh_tokens_expires_at ON refresh_tokens(expires_at);
CREATE INDEX IF NOT EXISTS idx_refresh_tokens_revoked_at ON refresh_tokens(revoked_at);

CREATE TABLE IF NOT EXISTS oauth_sessions (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    state VARCHAR(255) UNIQUE NOT NULL,
    code_verifier VARCHAR(255),
    redirect_uri VARCHAR(500),
    nonce VARCHAR(255),
    user_id UUID REFERENCES users(id),
    expires_at TIMESTAMP WITH TIME ZONE NOT NULL,
    created_at TIMESTAMP WITH TIME ZONE DEFAULT CURRENT_TIMESTAMP,
    completed_at TIMESTAMP WITH TIME ZONE
);
CREATE INDEX IF NOT EXISTS idx_oauth_sessions_state ON oauth_sessions(state);
CREATE INDEX IF NOT EXISTS idx_oauth_sessions_user_id ON oauth_sessions(user_id);
CREATE INDEX IF NOT EXISTS idx_oauth_sessions_expires_at ON oauth_sessions(expires_at);

CREATE TABLE IF NOT EXISTS banner_announcements (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    name VARCHAR(100) NOT NULL DEFAULT 'Untitled Banner',
    is_active BOOLEAN DEFAULT false,
    priority INTEGER DEFAULT 0,
    content JSONB NOT NULL DEFAULT '{}',
    variant VARCHAR(20) DEFAULT 'info' CHECK (variant IN ('info', 'warning', 'danger', 'success', 'default')),
    is_dismissible BOOLEAN DEFAULT false,
    dismiss_duration_hours INTEGER,
    start_date TIMESTAMP WITH TIME ZONE,
    end_date TIMESTAMP WITH TIME ZONE,
    target_roles TEXT[],
    target_user_ids UUID[],
    link_url VARCHAR(500),
    link_text JSONB,
    markdown_enabled BOOLEAN DEFAULT false,
    created_by UUID REFERENCES users(id),
    updated_by UUID REFERENCES users(id),
    created_at TIMESTAMP WITH TIME ZONE DEFAULT CURRENT_TIMESTAMP,
    updated_at TIMESTAMP WITH TIME ZONE DEFAULT CURRENT_TIMESTAMP
);
CREATE INDEX IF NOT EXISTS idx_banner_active ON banner_announcements(is_active, priority DESC) WHERE is_active = true;
CREATE INDEX IF NOT EXISTS idx_banner_created_by ON banner_announcements(created_by);
CREATE INDEX IF NOT EXISTS idx_banner_updated_by ON banner_announcements(updated_by);

CREATE TABLE IF NOT EXISTS user_banner_dismissals (
    user_id UUID REFERENCES users(id) ON DELETE CASCADE,
    banner_id UUID REFERENCES banner_announcements(id) ON DELETE CASCADE,
    dismissed_at TIMESTAMP WITH TIME ZONE DEFAULT CURRENT_TIMESTAMP,
    PRIMARY KEY (user_id, banner_id)
);

CREATE TABLE IF NOT EXISTS banner_audit_log (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    banner_id UUID REFERENCES banner_announcements(id) ON DELETE CASCADE,
    action VARCHAR(20) NOT NULL,
    changed_by UUID REFERENCES users(id),
    previous_state JSONB,
    new_state JSONB,
    changed_at TIMESTAMP WITH TIME ZONE DEFAULT CURRENT_TIMESTAMP
);
CREATE INDEX IF NOT EXISTS idx_banner_audit_log_banner_id ON banner_audit_log(banner_id);

CREATE TABLE IF NOT EXISTS subscription_status_history (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    subscription_id UUID NOT NULL REFERENCES subscriptions(id) ON DELETE CASCADE,
    old_status VARCHAR(20),
    new_status VARCHAR(20) NOT NULL,
    reason TEXT,
    changed_by UUID REFERENCES users(id),
    changed_at TIMESTAMP WITH TIME ZONE DEFAULT CURRENT_TIMESTAMP
);
CREATE INDEX IF NOT EXISTS idx_subscription_history_subscription_id
    ON subscription_status_history(subscription_id, changed_at DESC);
CREATE INDEX IF NOT EXISTS idx_subscription_history_changed_by ON subscription_status_history(changed_by);
CREATE INDEX IF NOT EXISTS idx_subscription_history_changed_at ON subscription_status_history(changed_at DESC);

CREATE TABLE IF NOT EXISTS daily_usage_cache (
    date DATE PRIMARY KEY,
    raw_data JSONB NOT NULL,
    aggregated_by_user JSONB,
    aggregated_by_model JSONB,
    aggregated_by_provider JSONB,
    total_metrics JSONB,
    updated_at TIMESTAMP WITH TIME ZONE DEFAULT CURRENT_TIMESTAMP,
    is_complete BOOLEAN DEFAULT true
);

CREATE TABLE IF NOT EXISTS branding_settings (
    id INTEGER PRIMARY KEY DEFAULT 1 CHECK (id = 1),
    login_logo_enabled BOOLEAN DEFAULT false,
    login_logo_data TEXT,
    login_logo_mime_type VARCHAR(50),
    login_title_enabled BOOLEAN DEFAULT false,
    login_title TEXT,
    login_subtitle_enabled BOOLEAN DEFAULT false,
    login_subtitle TEXT,
    header_brand_enabled BOOLEAN DEFAULT false,
    header_brand_light_data TEXT,
    header_brand_light_mime_type VARCHAR(50),
    header_brand_dark_data TEXT,
    header_brand_dark_mime_type VARCHAR(50),
    updated_at TIMESTAMP WITH TIME ZONE DEFAULT CURRENT_TIMESTAMP,
    updated_by UUID REFERENCES users(id)
);
INSERT INTO branding_settings (id) VALUES (1) ON CONFLICT DO NOTHING;

CREATE TABLE IF NOT EXISTS system_settings (
    key VARCHAR(100) PRIMARY KEY,
    value JSONB NOT NULL DEFAULT '{}',
    updated_at TIMESTAMP WITH TIME ZONE DEFAULT CURRENT_TIMESTAMP,
    updated_by UUID REFERENCES users(id)
);
INSERT INTO system_settings (key, value) VALUES ('api_key_defaults', '{}'), ('user_defaults', '{}')
ON CONFLICT (key) DO NOTHING;

-- Triggers: updated_at maintained on users, teams, models, subscriptions, api_keys, banner_announcements.
CREATE OR REPLACE FUNCTION update_updated_at_column()
RETURNS TRIGGER AS $$
BEGIN
    NEW.updated_at = CURRENT_TIMESTAMP;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;

DROP TRIGGER IF EXISTS update_users_updated_at ON users;
CREATE TRIGGER update_users_updated_at BEFORE UPDATE ON users
    FOR EACH ROW EXECUTE FUNCTION update_updated_at_column();
DROP TRIGGER IF EXISTS update_teams_updated_at ON teams;
CREATE TRIGGER update_teams_updated_at BEFORE UPDATE ON teams
    FOR EACH ROW EXECUTE FUNCTION update_updated_at_column();
DROP TRIGGER IF EXISTS update_models_updated_at ON models;
CREATE TRIGGER update_models_updated_at BEFORE UPDATE ON models
    FOR EACH ROW EXECUTE FUNCTION update_updated_at_column();
DROP TRIGGER IF EXISTS update_subscriptions_updated_at ON subscriptions;
CREATE TRIGGER update_subscriptions_updated_at BEFORE UPDATE ON subscriptions
    FOR EACH ROW EXECUTE FUNCTION update_updated_at_column();
DROP TRIGGER IF EXISTS update_api_keys_updated_at ON api_keys;
CREATE TRIGGER update_api_keys_updated_at BEFORE UPDATE ON api_keys
    FOR EACH ROW EXECUTE FUNCTION update_updated_at_column();
DROP TRIGGER IF EXISTS update_banner_announcements_updated_at ON banner_announcements;
CREATE TRIGGER update_banner_announcements_updated_at BEFORE UPDATE ON banner_announcements
    FOR EACH ROW EXECUTE FUNCTION update_updated_at_column();

-- The Default Team (upserted on every start) and every user's membership of it.
INSERT INTO teams (id, name, alias, description, max_budget, current_spend, budget_duration, tpm_limit,
                   rpm_limit, allowed_models, metadata, is_active)
VALUES ('a0000000-0000-4000-8000-000000000001', 'Default Team', 'default-team',
        'Default team for all users until team management is implemented', 10000.00, 0, 'monthly', 50000,
        1000, ARRAY[]::TEXT[], '{"auto_created": true, "default_team": true, "created_by": "system"}', true)
ON CONFLICT (id) DO NOTHING;
INSERT INTO team_members (team_id, user_id, role)
SELECT 'a0000000-0000-4000-8000-000000000001', u.id, 'member' FROM users u
ON CONFLICT (team_id, user_id) DO NOTHING;
