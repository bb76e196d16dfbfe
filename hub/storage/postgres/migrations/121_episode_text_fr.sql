-- The episode text in French for the care teams (docs/clinical/rules.md, messages); summary stays
-- the English text. Same rules: the trigger stays first, later breaches are appended.
ALTER TABLE alert_episodes ADD COLUMN IF NOT EXISTS summary_fr text NOT NULL DEFAULT '';
