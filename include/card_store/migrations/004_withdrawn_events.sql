-- Change events say what changed (docs/contracts/card-store.md): 'written' for a card stored
-- or changed, 'withdrawn' (with an empty content_hash) for cards taken away from a reader.
ALTER TABLE card_change_outbox
    ADD COLUMN IF NOT EXISTS change text NOT NULL DEFAULT 'written'
    CHECK (change IN ('written', 'withdrawn'));
