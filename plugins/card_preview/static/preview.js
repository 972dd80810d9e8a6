// Card preview: renders stored Adaptive Cards with Microsoft's renderer (window.AdaptiveCards)
// and lists what the renderer reports while parsing and validating each card.
// Clicks work as in Teams: an Action.Execute asks the bot's answer (api/users/<id>/action,
// include/card_actions.py) and the card is replaced in place by it; Action.OpenUrl opens the
// ERP link in a new tab.
"use strict";

const state = { users: [], userId: null, locale: null };
const $ = (id) => document.getElementById(id);

async function getJson(url, options = {}) {
  const resp = await fetch(url, { credentials: "same-origin", ...options });
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
// onAction(action) is called when the reader clicks one of the card's actions.
function renderCard(payload, onAction) {
  const AC = window.AdaptiveCards;
  const card = new AC.AdaptiveCard();
  card.onExecuteAction = onAction;
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
  div.dataset.storedPage = pageId;
  const title = document.createElement("h2");
  const reset = document.createElement("button");
  reset.className = "reset";
  reset.textContent = `↺ ${pageId}`;
  reset.title = "show this page's stored card again";
  reset.addEventListener("click", () => {
    showCard(div, pageId, payload);
    div.querySelector(".action-note").textContent = "";
  });
  const head = document.createElement("div");
  head.className = "panel-head";
  head.append(title, reset);
  const host = document.createElement("div");
  host.className = "card-host";
  const note = document.createElement("div");
  note.className = "action-note muted";
  const list = document.createElement("ul");
  list.className = "problems";
  div.append(head, host, note, list);
  showCard(div, pageId, payload);
  div.dataset.status = "ready";
  return div;
}

// Put a card into a panel, in place of the one it shows (the renderer's problems with it too).
function showCard(div, pageId, payload) {
  const scenarioId = div.dataset.scenario;
  div.dataset.page = pageId || "";
  const moved = pageId !== div.dataset.storedPage;
  div.querySelector("h2").textContent = `${scenarioId} / ${pageId || "overview, with the page-gone note"}` +
    (moved ? ` (opened from ${div.dataset.storedPage})` : "");
  div.querySelector(".reset").hidden = !moved;
  const { element, problems } = renderCard(payload, (action) => onCardAction(div, action));
  const host = div.querySelector(".card-host");
  host.replaceChildren(...(element ? [element] : []));
  const list = div.querySelector(".problems");
  list.replaceChildren();
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
}

// Only web links leave the page (a card could carry javascript: or data: URLs).
function openUrl(url) {
  let target;
  try { target = new URL(url, location.href); } catch (e) { return false; }
  if (!["http:", "https:"].includes(target.protocol)) return false;
  window.open(target.href, "_blank", "noopener,noreferrer");
  return true;
}

async function onCardAction(div, action) {
  const AC = window.AdaptiveCards;
  const note = div.querySelector(".action-note");
  if (action instanceof AC.OpenUrlAction) {
    note.textContent = openUrl(action.url) ? `opened ${action.url}` : `not a web link, not opened: ${action.url}`;
    return;
  }
  if (!(action instanceof AC.ExecuteAction)) {
    note.textContent = `${action.getJsonTypeName()} "${action.title || ""}": the preview acts on Action.Execute and Action.OpenUrl only`;
    return;
  }
  div.dataset.status = "loading";
  const data = action.data || {};
  const asked = `${action.verb} ${data.page_id}` + (data.key ? ` (${data.key})` : "");
  note.textContent = `asking the bot: ${asked}…`;
  try {
    const answer = await getJson(`api/users/${encodeURIComponent(state.userId)}/action` +
      (state.locale ? `?locale=${encodeURIComponent(state.locale)}` : ""), {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ verb: action.verb, data: action.data }),
    });
    const response = answer.response;
    if (response.type === "application/vnd.microsoft.card.adaptive") {
      showCard(div, answer.page_id, response.value);
      note.textContent = `${asked} → ` +
        (answer.page_id || "the overview: the page is no longer in the brief") +
        (answer.rendered_now ? ` (rendered now in ${answer.locale})` : "");
    } else {  // the bot answers with a text message (unknown verb, bad data, no cards)
      note.textContent = `the bot says: ${response.value}`;
    }
  } catch (e) {
    note.textContent = e.message;
  }
  div.dataset.status = "ready";
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
