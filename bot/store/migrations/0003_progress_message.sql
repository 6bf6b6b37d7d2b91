-- The message that shows a running operation's progress and result, so that an operation interrupted
-- by a stop or a crash can be marked as such in Slack by whichever replica notices.
ALTER TABLE chatops.operations ADD COLUMN progress_ts text NULL;
