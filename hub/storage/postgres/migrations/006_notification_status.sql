-- Episode status changes (acknowledged, assigned, resolved) are pushed to the care team's
-- webhooks as a Task update without a Communication: kind 'status'.
ALTER TABLE notifications DROP CONSTRAINT notifications_kind_check;
ALTER TABLE notifications ADD CONSTRAINT notifications_kind_check CHECK (kind IN ('opened', 'renotified', 'escalated', 'status'));
