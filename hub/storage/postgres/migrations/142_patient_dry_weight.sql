-- Heart failure: the patient's dry weight (weight without fluid overload), set by the care team
-- and drawn on the weight trend (ESC 2021 heart failure guidelines, section 6 on congestion).
ALTER TABLE patients
  ADD COLUMN dry_weight_kg   double precision CHECK (dry_weight_kg BETWEEN 20 AND 300),
  ADD COLUMN dry_weight_set_by text,
  ADD COLUMN dry_weight_set_at timestamptz;
