-- Card store, per docs/contracts/card-store.md. Every statement is idempotent: card_subscriber is
-- often created first by the card service with exactly this definition.
CREATE TABLE IF NOT EXISTS card_subscriber (
    user_id        text PRIMARY KEY,
    display_name   text NOT NULL,
    locale         text NOT NULL DEFAULT 'en-US',
    sales_org_cd   text NOT NULL,
    accounts       text[] NOT NULL,
    product_groups text[],
    scenarios      text[],
    active         boolean NOT NULL DEFAULT true,
    updated_at     timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS user_scenario_result (
    user_id           text NOT NULL,
    scenario_id       text NOT NULL,
    sales_org_cd      text NOT NULL,
    pages             jsonb NOT NULL,
    cards             jsonb NOT NULL,
    content_hash      text NOT NULL,
    run_id            text NOT NULL,
    data_interval_end timestamptz NOT NULL,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, scenario_id)
);
CREATE INDEX IF NOT EXISTS user_scenario_result_created_at_idx ON user_scenario_result (created_at);
CREATE INDEX IF NOT EXISTS user_scenario_result_updated_at_idx ON user_scenario_result (updated_at);

CREATE TABLE IF NOT EXISTS pipeline_dead_letter (
    id          bigserial PRIMARY KEY,
    run_id      text NOT NULL,
    stage       text NOT NULL,
    item_key    text NOT NULL,
    payload     jsonb NOT NULL,
    error       text NOT NULL,
    attempts    integer NOT NULL,
    failed_at   timestamptz NOT NULL DEFAULT now(),
    resolved_at timestamptz,
    resolution  text
);
-- A rerun of the same run updates its open dead letter instead of adding a twin.
CREATE UNIQUE INDEX IF NOT EXISTS pipeline_dead_letter_open_uq
    ON pipeline_dead_letter (run_id, stage, item_key) WHERE resolved_at IS NULL;

CREATE TABLE IF NOT EXISTS pipeline_run (
    run_id             text PRIMARY KEY,
    data_interval_end  timestamptz NOT NULL,
    started_at         timestamptz NOT NULL DEFAULT now(),
    finished_at        timestamptz,
    status             text NOT NULL,
    orgs_fetched       integer NOT NULL DEFAULT 0,
    orgs_failed        integer NOT NULL DEFAULT 0,
    orgs_fallback      integer NOT NULL DEFAULT 0,
    subscribers_served integer NOT NULL DEFAULT 0,
    cards_written      integer NOT NULL DEFAULT 0,
    cards_unchanged    integer NOT NULL DEFAULT 0,
    dead_letters       integer NOT NULL DEFAULT 0
);

-- Transactional outbox: change events are written in the same transaction as the cards and
-- published to Redis afterwards, so a Redis outage delays events but never loses them.
CREATE TABLE IF NOT EXISTS card_change_outbox (
    id           bigserial PRIMARY KEY,
    event_id     text NOT NULL UNIQUE,
    user_id      text NOT NULL,
    scenario_id  text NOT NULL,
    content_hash text NOT NULL,
    run_id       text NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    published_at timestamptz
);
CREATE INDEX IF NOT EXISTS card_change_outbox_pending_idx
    ON card_change_outbox (id) WHERE published_at IS NULL;
