-- Operations that need several approvals (`backup restore`: two approvers other than the requester).
-- The number is fixed when the request is recorded; each approval appends its approver to `approvers`
-- in one conditional UPDATE, which moves the row to 'approved' when the count is reached.
-- (Version 0005 was never shipped: versions only need to grow.)
ALTER TABLE chatops.operations
    ADD COLUMN approvals_required int NOT NULL DEFAULT 1 CHECK (approvals_required >= 1),
    ADD COLUMN approvers text[] NOT NULL DEFAULT '{}';
