-- A pinned model's price per million input tokens, so that a re-embed estimate can say what a run
-- will cost. NULL means no price recorded (the estimate then shows no cost). It is a decimal in the
-- operator's currency of choice; the gateway never converts it.
ALTER TABLE models ADD COLUMN price_per_million_tokens numeric(20, 6)
    CHECK (price_per_million_tokens >= 0);
