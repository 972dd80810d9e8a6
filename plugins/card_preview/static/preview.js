// Card preview: renders stored Adaptive Cards with Microsoft's renderer (window.AdaptiveCards)
// and lists what the renderer reports while parsing and validating each card.
"use strict";

const state = { users: [], userId: null, locale: null };
const $ = (id) => document.getElementById(id);

async function getJson(url) {
  const resp = await fetch(url, { credentials: "same-origin" });
  if (!resp.ok) {
    let detail = resp.statusText;
    try { detail = (await resp.json()).detail || detail; } catch (e) { /* not JSON */ }
    throw new Error(`${url}: HTTP ${resp.status} ${typeof detail === "string" ? detail : JSON.stringify(detail)}`);
  }
  return resp.json();
}

async function loadRun() {
  try {
    const run = await getJson("api/runs/latest");
    $("run-summary").textContent =
      `latest run ${run.run_id} (${run.status}), data as of ${run.data_interval_end}: ` +
      `${run.subscribers_served} served, ${run.cards_written} written, ${run.cards_unchanged} unchanged, ` +
      `${run.dead_letters} dead letters`;
  } catch (e) {
    $("run-summary").textContent = e.message;
  }
}

async function loadSubscribers() {
  const q = $("search").value.trim();
  state.users = await getJson(`api/subscribers?q=${encodeURIComponent(q)}`);
  const list = $("subscriber-list");
  list.replaceChildren(...state.users.map((u) => {
    const li = document.createElement("li");
    li.dataset.userId = u.user_id;
    li.textContent = `${u.user_id} · ${u.display_name} · ${u.locale} · ${u.sales_org_cd}` +
      (u.active ? "" : " (inactive)");
    li.classList.toggle("no-cards", !u.has_cards);
    li.classList.toggle("selected", u.user_id === state.userId);
    li.addEventListener("click", () => selectUser(u.user_id, null));
    return li;
  }));
}

// Parse, validate and render one card; returns {element, problems: [{level, message}]}.
function renderCard(payload) {
  const AC = window.AdaptiveCards;
  const card = new AC.AdaptiveCard();
  const context = new AC.SerializationContext();
  const problems = [];
  const level = (event) =>
    [AC.ValidationEvent.Hint, AC.ValidationEvent.Deprecated].includes(event) ? "warning" : "error";
  let element;
  try {
    // adaptivecards 3.0.6 checks "lang" with a /g regex, whose test() is stateful: every
    // second card parsed in one page would be told its valid lang ("ko") is invalid. Reset it
    // so each card is judged on its own, as a client rendering one card would judge it.
    AC.CardElement.langProperty.regEx.lastIndex = 0;
    card.parse(payload, context);
    for (let i = 0; i < context.eventCount; i++) {
      const e = context.getEventAt(i);
      problems.push({ level: level(e.event), message: `parse: ${AC.ValidationEvent[e.event]}: ${e.message}` });
    }
    for (const e of card.validateProperties().validationEvents) {
      problems.push({ level: level(e.event), message: `validate: ${AC.ValidationEvent[e.event]}: ${e.message}` });
    }
    element = card.render();
    if (!element) problems.push({ level: "error", message: "render: the renderer produced nothing" });
  } catch (e) {
    problems.push({ level: "error", message: `render: ${e.message}` });
  }
  return { element, problems };
}

function panel(scenarioId, pageId, payload) {
  const div = document.createElement("div");
  div.className = "card-panel";
  div.dataset.scenario = scenarioId;
  div.dataset.page = pageId;
  const title = document.createElement("h2");
  title.textContent = `${scenarioId} / ${pageId}`;
  const host = document.createElement("div");
  host.className = "card-host";
  const { element, problems } = renderCard(payload);
  if (element) host.appendChild(element);
  const list = document.createElement("ul");
  list.className = "problems";
  for (const p of problems) {
    const li = document.createElement("li");
    li.className = p.level;
    li.textContent = `${p.level}: ${p.message}`;
    list.appendChild(li);
  }
  if (!problems.length) {
    const li = document.createElement("li");
    li.className = "ok";
    li.textContent = "renderer: no warnings";
    list.appendChild(li);
  }
  div.dataset.errors = problems.filter((p) => p.level === "error").length;
  div.dataset.warnings = problems.filter((p) => p.level === "warning").length;
  div.append(title, host, list);
  return div;
}

async function selectUser(userId, locale) {
  state.userId = userId;
  document.body.dataset.status = "loading";
  for (const li of $("subscriber-list").children) li.classList.toggle("selected", li.dataset.userId === userId);
  $("cards").replaceChildren();
  $("message").textContent = `loading ${userId}…`;
  try {
    const view = await getJson(`api/users/${encodeURIComponent(userId)}/cards` +
      (locale ? `?locale=${encodeURIComponent(locale)}` : ""));
    state.locale = view.locale;
    const s = view.subscriber;
    $("user-bar").hidden = false;
    $("user-title").textContent = s ? `${s.user_id} ${s.display_name} · ${s.sales_org_cd}` : `${userId} (no longer a subscriber)`;
    for (const radio of document.querySelectorAll("input[name=locale]")) radio.checked = radio.value === view.locale;
    $("locale-note").textContent = view.locale === view.stored_locale
      ? `stored cards (the subscriber's locale ${view.stored_locale}), exactly as the Teams bot gets them`
      : `rendered now in ${view.locale}; the stored cards are ${view.stored_locale}`;
    const panels = view.results.flatMap((r) =>
      Object.entries(r.cards).map(([pageId, payload]) => panel(r.scenario_id, pageId, payload)));
    $("cards").replaceChildren(...panels);
    $("message").textContent = view.results.length
      ? view.results.map((r) => `${r.scenario_id}: run ${r.run_id}, data as of ${r.data_interval_end}`).join("; ")
      : "no stored cards for this user";
  } catch (e) {
    $("message").textContent = e.message;
  }
  document.body.dataset.status = "ready";
}

function start() {
  for (const radio of document.querySelectorAll("input[name=locale]")) {
    radio.addEventListener("change", () => state.userId && selectUser(state.userId, radio.value));
  }
  let timer;
  $("search").addEventListener("input", () => { clearTimeout(timer); timer = setTimeout(loadSubscribers, 200); });
  loadRun();
  const params = new URLSearchParams(location.search);
  loadSubscribers().then(() => {
    if (params.get("user")) return selectUser(params.get("user"), params.get("locale"));
    document.body.dataset.status = "ready";
  }).catch((e) => { $("message").textContent = e.message; document.body.dataset.status = "ready"; });
}

start();
