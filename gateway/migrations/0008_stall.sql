-- When a push's deploy was last asked of Netlify on behalf of status long-polls. Waiters claim
-- the next refresh with a conditional UPDATE on this column, so however many of them wait on one
-- push (in however many gateway processes) Netlify is asked once per interval, on the
-- customer's own token budget.

ALTER TABLE pushes ADD COLUMN netlify_checked_at timestamptz;
