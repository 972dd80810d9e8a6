-- What a row's cards were rendered from (pages, locale, context, ERP URL, templates and
-- renderer). A rerun of the same interval whose inputs hash the same skips rendering.
ALTER TABLE user_scenario_result ADD COLUMN IF NOT EXISTS render_key text;
