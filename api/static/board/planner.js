// The planner's board: reads the night through the JSON API like any client; the token is
// held in memory only. Every change carries If-Match with the plan version shown.
"use strict";
const TEXT = {
  nl: {
    title: "Nachtplanning", night: "Nacht", version: "Planversie", reoptimise: "Herplannen",
    publish: "Publiceren naar telefoons", stale_title: "Het plan is intussen gewijzigd",
    reload: "Opnieuw laden", sign_in: "Aanmelden als planner", username: "Gebruikersnaam",
    password: "Wachtwoord", sign_in_button: "Aanmelden", map: "Kaart", selected: "Geselecteerd bezoek",
    select_hint: "Kies een bezoek op de tijdlijn of de kaart. Sleep een blok naar een andere verpleegkundige of plek om te verplaatsen.",
    preview: "Gevolgen van de verplaatsing", confirm: "Bevestigen", cancel: "Annuleren",
    unassigned: "Niet ingepland", timeline: "Tijdlijn 23:00–07:00", client: "Cliënt", task: "Zorgtaak",
    window: "Tijdvenster", call: "Melding", urgency: "Urgentie", eta: "Verwacht", nurse: "Verpleegkundige",
    late: "te laat", at_risk: "krap", pin: "Vastzetten bij deze verpleegkundige", unpin: "Losmaken",
    move_to: "Verplaatsen naar", at_position: "op plek", at_end: "achteraan", show_effects: "Gevolgen bekijken",
    new_etas: "Nieuwe tijden van", travel_change: "Reistijd", late_change: "Te late bezoeken",
    rules_broken: "Gebroken regels", none: "geen", later: "Later dan eerst", minutes: "min",
    loading: "Laden…", no_plan: "Nog geen plan voor deze nacht: kies Herplannen.",
    moved: "Verplaatst: planversie", pinned_ok: "Vastgezet", unpinned_ok: "Losgemaakt",
    reoptimising: "Herplannen…", reopt_done: "Herplannen klaar: planversie", reopt_failed: "Herplannen mislukt",
    published: "Gepubliceerd: planversie {v} naar {n} telefoon(s)", updated: "Bijgewerkt naar planversie",
    stale_text: "Uw wijziging ging uit van versie {given}; het plan is nu versie {now}. Dit is er intussen veranderd:",
    changed_since: "Het plan veranderde terwijl u keek (nu versie {v}); bevestigen kan een conflict geven.",
    no_lib: "De kaartbibliotheek ontbreekt (voer `make install` uit; die draait npm ci). Tijdlijn en acties werken wel.",
    route_version: "telefoon: route v", not_published: "nog niet gepubliceerd", visits: "bezoeken",
    map_label: "Kaart met wegen, routes en bezoeken", osm: "Wegen © OpenStreetMap-bijdragers (ODbL)",
    legend_acute: "acuut", legend_urgent: "urgent", legend_soon: "spoedig", legend_planned: "gepland",
    legend_late: "te laat", legend_risk: "krap", position: "laatste positie", break_: "pauze",
    sign_in_failed: "Aanmelden mislukt", reason: "Reden", unplanned: "niet ingepland",
    lang_other: "English", status: "Status", base: "post (start en einde)", pinned: "vastgezet", status_open: "open", status_started: "begonnen", status_done: "klaar",
    linked: "Gekoppeld", linked_text: "{min}–{max} min na {visit} ({nurse})", linked_any: "elke verpleegkundige",
    linked_different: "een andere verpleegkundige", linked_same: "dezelfde verpleegkundige",
    status_could_not_get_in: "kon niet naar binnen", status_cancelled: "geannuleerd", key_travel: "rijden", key_wait: "wachten", key_now: "nu",
    urgent_open: "Spoedmelding invoeren", urgent_title: "Spoedmelding", duration: "Duur (min)",
    urgent_quote: "Opties opvragen", urgent_options: "Opties (beste eerst)",
    urgent_take: "Inplannen bij gekozen verpleegkundige", not_possible: "niet mogelijk",
    travel_more: "reistijd", others_later: "anderen later", urgent_taken: "Spoedmelding {id} ingepland bij {n}: planversie {v}",
    silent: "telefoon stil sinds {since} (laatst gehoord {heard})", silent_short: "telefoon stil",
    confirm_anyway: "Toch bevestigen (ik heb haar bereikt)",
    pin_silent: "De telefoon van {n} is stil sinds {since}: zij ziet dit niet. Toch vastzetten (u hebt haar op een andere manier bereikt)?",
    signed_out: "U bent afgemeld: meld u opnieuw aan. Het bord wordt niet meer bijgewerkt.",
  },
  en: {
    title: "Night plan", night: "Night", version: "Plan version", reoptimise: "Re-optimise",
    publish: "Publish to phones", stale_title: "The plan changed in the meantime", reload: "Reload",
    sign_in: "Sign in as planner", username: "Username", password: "Password", sign_in_button: "Sign in",
    map: "Map", selected: "Selected visit",
    select_hint: "Choose a visit on the timeline or the map. Drag a block to another nurse or place to move it.",
    preview: "Consequences of the move", confirm: "Confirm", cancel: "Cancel", unassigned: "Not planned",
    timeline: "Timeline 23:00–07:00", client: "Client", task: "Care task", window: "Window", call: "Call",
    urgency: "Urgency", eta: "Expected", nurse: "Nurse", late: "late", at_risk: "at risk",
    pin: "Pin to this nurse", unpin: "Unpin", move_to: "Move to", at_position: "at stop", at_end: "last",
    show_effects: "Show consequences", new_etas: "New times of", travel_change: "Travel",
    late_change: "Late visits", rules_broken: "Rules broken", none: "none", later: "Later than before",
    minutes: "min", loading: "Loading…", no_plan: "No plan for this night yet: press Re-optimise.",
    moved: "Moved: plan version", pinned_ok: "Pinned", unpinned_ok: "Unpinned", reoptimising: "Re-optimising…",
    reopt_done: "Re-optimised: plan version", reopt_failed: "Re-optimising failed",
    published: "Published plan version {v} to {n} phone(s)", updated: "Updated to plan version",
    stale_text: "Your change was based on version {given}; the plan is now version {now}. This changed meanwhile:",
    changed_since: "The plan changed while you looked (now version {v}); confirming may conflict.",
    no_lib: "The map library is missing (run `make install`, which runs npm ci). Timeline and actions work.",
    route_version: "phone: route v", not_published: "not published yet", visits: "visits",
    map_label: "Map with roads, routes and visits", osm: "Roads © OpenStreetMap contributors (ODbL)",
    legend_acute: "acute", legend_urgent: "urgent", legend_soon: "soon", legend_planned: "planned",
    legend_late: "late", legend_risk: "at risk", position: "last position", break_: "break",
    sign_in_failed: "Sign-in failed", reason: "Reason", unplanned: "not planned",
    lang_other: "Nederlands", status: "Status", base: "base (start and end)", pinned: "pinned", status_open: "open", status_started: "started", status_done: "done",
    linked: "Linked", linked_text: "{min}–{max} min after {visit} ({nurse})", linked_any: "any nurse",
    linked_different: "a different nurse", linked_same: "the same nurse",
    status_could_not_get_in: "could not get in", status_cancelled: "cancelled", key_travel: "driving", key_wait: "waiting", key_now: "now",
    urgent_open: "Enter an urgent call", urgent_title: "Urgent call", duration: "Duration (min)",
    urgent_quote: "Get options", urgent_options: "Options (best first)",
    urgent_take: "Plan with the chosen nurse", not_possible: "not possible",
    travel_more: "travel", others_later: "others later", urgent_taken: "Urgent call {id} planned with {n}: plan version {v}",
    silent: "phone silent since {since} (last heard {heard})", silent_short: "phone silent",
    confirm_anyway: "Confirm anyway (I reached her)",
    pin_silent: "{n}'s phone has been silent since {since}: she will not see this. Pin all the same (you reached her by other means)?",
    signed_out: "You have been signed out: please sign in again. The board is no longer updated.",
  },
};
const URGENCY_COLOUR = {acute: "#C00000", urgent: "#E66100", soon: "#B8860B", planned: "#5D6D7E"};
const $ = (id) => document.getElementById(id);
const el = (tag, attrs = {}, ...children) => {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "class") node.className = v;
    else if (k === "style") node.style.cssText = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children) if (c !== null && c !== undefined) node.append(c);
  return node;
};
// Data (client names, nurse ids, server messages) enters the page only as text: through
// el() above, textContent, or tip() for Leaflet, which sets a string tooltip or divIcon as
// innerHTML. Never build HTML from data (a partner names its clients: R09).
const tip = (text) => el("span", {}, String(text));
let lang = localStorage.getItem("nachtroute.lang") || "nl";
const t = (key, vars = {}) => (TEXT[lang][key] || key).replace(/\{(\w+)\}/g, (_, k) => vars[k]);
const state = {token: null, board: null, selected: null, pending: null, map: null, layers: null,
  roadsDrawn: false, poll: null, busy: false, acting: 0, signedOut: false, streamRun: 0, streamStop: null};

// ---------------------------------------------------------------- HTTP
class HttpError extends Error {
  constructor(status, body) { super(body.detail || body.title || String(status)); this.status = status; this.body = body; }
}
async function api(method, path, body, headers = {}) {
  const token = state.token;
  if (!token) throw new HttpError(401, {detail: t("signed_out")});
  const r = await fetch(path, {method, headers: {"Content-Type": "application/json",
    Authorization: "Bearer " + token, ...headers}, body: body ? JSON.stringify(body) : undefined});
  const data = await r.json().catch(() => ({}));
  if (r.status === 401) signOut(token);
  // An answer to a sign-in that has ended (signed out while it was under way, by the stream
  // or another call) is not read: drawn, it brought her board back onto the signed-out page
  // and put its message over the sign-out's (red team s28).
  if (state.token !== token) throw new HttpError(401, {detail: t("signed_out")});
  if (!r.ok) throw new HttpError(r.status, data);
  return data;
}
const unauthorised = (e) => e instanceof HttpError && e.status === 401;
const ifMatch = () => ({"If-Match": `"${state.board ? state.board.version : 0}"`});
const night = () => $("night").value;
const say = (text) => { $("status").textContent = text; };

// ---------------------------------------------------------------- times
const clock = (s) => new Date(Date.parse(state.board.starts_at) + s * 1000)
  .toLocaleTimeString("nl-NL", {hour: "2-digit", minute: "2-digit", timeZone: "Europe/Amsterdam"});
const hhmm = (iso) => new Date(Date.parse(iso))
  .toLocaleTimeString("nl-NL", {hour: "2-digit", minute: "2-digit", timeZone: "Europe/Amsterdam"});
const horizon = () => (Date.parse(state.board.ends_at) - Date.parse(state.board.starts_at)) / 1000;
const pct = (s) => `${Math.max(0, Math.min(100, (100 * s) / horizon()))}%`;
const minutes = (s) => `${s > 0 ? "+" : ""}${Math.round(s / 60)} ${t("minutes")}`;

// ---------------------------------------------------------------- language
function applyLanguage() {
  document.documentElement.lang = lang;
  for (const node of document.querySelectorAll("[data-i18n]")) node.textContent = t(node.dataset.i18n);
  $("lang").textContent = lang === "nl" ? "EN" : "NL";
  $("lang").title = t("lang_other");
  $("map").setAttribute("aria-label", t("map_label"));
  document.title = `nachtroute — ${t("title")}`;
  if (state.board) render();
  if (state.signedOut) say(t("signed_out"));
}
$("lang").onclick = () => { lang = lang === "nl" ? "en" : "nl"; localStorage.setItem("nachtroute.lang", lang); applyLanguage(); };

// ---------------------------------------------------------------- load
async function load(message) {
  state.board = await api("GET", `/nights/${night()}/board`);
  if (state.selected && !visit(state.selected)) state.selected = null;
  render();
  say(message || "");
}
const visit = (id) => state.board.visits.find((v) => v.id === id);
const nurse = (id) => state.board.nurses.find((n) => n.id === id);
const vidNumber = (ref) => Number(ref.slice(1));

function render() {
  const b = state.board;
  $("plan-version").textContent = String(b.version);
  $("reopt").disabled = false;
  $("publish").disabled = !b.routes.length;
  $("urgent-open").disabled = false;
  renderTimeline();
  renderUnassigned();
  renderDetail();
  renderMap();
}

// ---------------------------------------------------------------- timeline
function renderTimeline() {
  const b = state.board;
  const box = $("timeline");
  box.replaceChildren();
  const scale = el("div", {class: "scale", "aria-hidden": "true"});
  for (let h = 0; h <= 8; h++) scale.append(el("span", {style: `left:${(100 * h) / 8}%`}, clock(h * 3600)));
  box.append(el("div", {class: "hours"}, el("span"), scale));
  for (const n of b.nurses) {
    const route = b.routes.find((r) => r.nurse_id === n.id);
    const track = el("div", {class: "track", "data-nurse-id": n.id});
    track.addEventListener("dragover", (e) => { e.preventDefault(); track.classList.add("drop"); });
    track.addEventListener("dragleave", () => track.classList.remove("drop"));
    track.addEventListener("drop", (e) => {
      e.preventDefault(); track.classList.remove("drop");
      const id = e.dataTransfer.getData("text/plain");
      const rect = track.getBoundingClientRect();
      const at = ((e.clientX - rect.left) / rect.width) * horizon();
      preview(id, n.id, positionAt(n.id, at, id));
    });
    for (const step of route ? route.steps : []) {
      if (step.travel_seconds > 0) {
        const from = step.arrival - step.travel_seconds;
        track.append(el("div", {class: "travel", style: `left:${pct(from)};width:calc(${pct(step.arrival)} - ${pct(from)})`}));
      }
      if (step.waiting_seconds > 0) {
        track.append(el("div", {class: "wait", style: `left:${pct(step.arrival)};width:calc(${pct(step.start)} - ${pct(step.arrival)})`}));
      }
      if (step.type === "break") {
        track.append(el("div", {class: "brk", style: `left:${pct(step.start)};width:calc(${pct(step.end)} - ${pct(step.start)})`}, t("break_")));
      }
      if (step.type !== "visit") continue;
      const v = visit(step.visit_id);
      if (!v) continue;
      if (v.window) {
        track.append(el("div", {class: "window" + (state.selected === v.id ? " sel" : ""),
          style: `left:${pct(v.window[0])};width:calc(${pct(v.window[1])} - ${pct(v.window[0])})`}));
      }
      const late = step.lateness_seconds > 0;
      const risk = v.planned && v.planned.at_risk;
      const shown = (late ? "! " : "") + v.id;
      const label = `${shown}: ${v.client.name}, ${v.care_task || ""}, ${t("eta")} ${clock(step.start)}` +
        (late ? `, ${t("late")}` : risk ? `, ${t("at_risk")}` : "") + (v.pinned_to ? `, ${t("pinned")}` : "");
      const block = el("button", {
        type: "button", class: "block" + (late ? " late" : "") + (risk ? " risk" : "") +
          (v.pinned_to ? " pinned" : "") + (state.selected === v.id ? " selected" : ""),
        style: `left:${pct(step.start)};width:calc(${pct(step.end)} - ${pct(step.start)});border-left-color:${n.colour}`,
        draggable: "true", "data-testid": "visit-block", "data-visit-id": v.id,
        "data-late": late ? "true" : "false", "aria-label": label, title: label,
        onclick: () => select(v.id),
        ondragstart: (e) => { e.dataTransfer.setData("text/plain", v.id); e.dataTransfer.effectAllowed = "move"; },
      }, shown);
      track.append(block);
    }
    if (b.now_seconds >= 0 && b.now_seconds <= horizon()) {
      track.append(el("div", {class: "now", style: `left:${pct(b.now_seconds)}`, "aria-hidden": "true"}));
    }
    const phone = n.published_route_version ? `${t("route_version")}${n.published_route_version}` : t("not_published");
    const who = el("div", {class: "who", style: `border-left-color:${n.colour}`},
      el("strong", {}, `${n.id} · ${n.name}`),
      `${route ? route.visit_count : 0} ${t("visits")} · ${phone}`);
    if (n.phone && n.phone.silent) {
      // Her phone is not picking up her route: the planner reaches her by other means.
      who.append(el("span", {class: "silent bad", "data-testid": "silent-nurse", role: "status"},
        t("silent", {since: hhmm(n.phone.silent_since), heard: hhmm(n.phone.heard_at)})));
    }
    box.append(el("div", {class: "row", "data-testid": "timeline-row", "data-nurse-id": n.id, role: "group",
      "aria-label": `${t("nurse")} ${n.id}`}, who, track));
  }
}

function stopsOf(nurseId, without) {
  // The nurse's stops (visits and restocks) in order, as the move API counts positions.
  const route = state.board.routes.find((r) => r.nurse_id === nurseId);
  return (route ? route.steps : []).filter((s) => (s.type === "visit" || s.type === "restock") && s.visit_id !== without);
}
function positionAt(nurseId, seconds, without) {
  return stopsOf(nurseId, without).filter((s) => s.start < seconds).length;
}

function renderUnassigned() {
  const list = $("unassigned");
  list.replaceChildren();
  const missing = state.board.visits.filter((v) => v.unassigned);
  if (!missing.length) list.append(el("li", {class: "muted"}, t("none")));
  for (const v of missing) {
    list.append(el("li", {tabindex: "0", draggable: "true", "data-testid": "unassigned-item", "data-visit-id": v.id,
      onclick: () => select(v.id), onkeydown: (e) => { if (e.key === "Enter" || e.key === " ") { e.preventDefault(); select(v.id); } },
      ondragstart: (e) => e.dataTransfer.setData("text/plain", v.id)},
      el("strong", {}, `${v.id} (${v.urgency})`), ` ${v.client.name}: ${v.unassigned.message}`));
  }
}

// ---------------------------------------------------------------- detail, pin, keyboard move
function select(id) {
  state.selected = id;
  renderTimeline(); renderDetail(); renderMap();
  const block = document.querySelector(`[data-testid="visit-block"][data-visit-id="${id}"]`);
  if (block && document.activeElement !== block && document.activeElement?.closest?.("#timeline")) block.focus();
}
function renderDetail() {
  const box = $("detail");
  const v = state.selected && visit(state.selected);
  if (!v) { box.replaceChildren(el("p", {class: "muted"}, t("select_hint"))); return; }
  const rows = [[t("client"), v.client.name], [t("task"), v.care_task || "–"], [t("urgency"), t("legend_" + v.urgency)]];
  if (v.window) rows.push([t("window"), `${clock(v.window[0])}–${clock(v.window[1])}`]);
  if (v.call_time !== null) rows.push([t("call"), clock(v.call_time)]);
  if (v.after) rows.push([t("linked"), t("linked_text", {visit: v.after.visit || "–",
    min: v.after.min_minutes, max: v.after.max_minutes, nurse: t("linked_" + v.after.nurse)})]);
  if (v.planned) {
    rows.push([t("nurse"), v.planned.nurse_id]);
    rows.push([t("eta"), clock(v.planned.start) + (v.planned.late ? ` (${t("late")})` : v.planned.at_risk ? ` (${t("at_risk")})` : "")]);
  } else if (v.unassigned) rows.push([t("reason"), v.unassigned.message]);
  rows.push([t("status"), t("status_" + v.status)]);
  const dl = el("dl");
  for (const [k, val] of rows) dl.append(el("dt", {}, k), el("dd", {}, val));
  const nurseSel = el("select", {id: "move-nurse"}, ...state.board.nurses.map((n) =>
    el("option", {value: n.id, selected: v.planned && v.planned.nurse_id === n.id}, `${n.id} · ${n.name}`)));
  const posSel = el("select", {id: "move-pos"});
  const fillPositions = () => {
    posSel.replaceChildren(el("option", {value: ""}, t("at_end")));
    stopsOf(nurseSel.value, v.id).forEach((s, i) =>
      posSel.append(el("option", {value: String(i)}, `${i + 1} (${s.visit_id ? "≠ " : ""}${clock(s.start)} ${s.visit_id || ""})`)));
  };
  nurseSel.onchange = fillPositions; fillPositions();
  const form = el("div", {class: "move"},
    el("label", {}, t("move_to") + " ", nurseSel), " ",
    el("label", {}, t("at_position") + " ", posSel), " ",
    el("button", {type: "button", onclick: () => preview(v.id, nurseSel.value, posSel.value === "" ? null : Number(posSel.value))}, t("show_effects")));
  const children = [dl, form];
  if (v.planned) {
    children.push(el("p", {}, el("button", {type: "button", "data-testid": "pin-toggle", "aria-pressed": v.pinned_to ? "true" : "false",
      onclick: () => togglePin(v)}, v.pinned_to ? t("unpin") : t("pin"))));
  }
  box.replaceChildren(...children);
}

// The board's own change comes back on the stream too. Until the change and its own reload are
// done, the stream's news is not news: reloading for it would race that reload and could
// overwrite the message saying what was done (the urgent call's number, the new version).
async function ownChange(action) {
  state.acting += 1;
  try { await action(); } finally { state.acting -= 1; }
}

async function togglePin(v) {
  await ownChange(async () => { try {
    const n = nurse(v.planned.nurse_id);
    // Pinning to a nurse whose phone is silent: the planner says she reached her otherwise.
    const silent = !v.pinned_to && n && n.phone && n.phone.silent;
    if (silent && !window.confirm(t("pin_silent", {n: n.id, since: hhmm(n.phone.silent_since)}))) return;
    const r = await api("POST", `/nights/${night()}/plan/moves`, {visit_id: vidNumber(v.id), nurse: v.planned.nurse_id,
      position: v.planned.position, pin: !v.pinned_to, silent_nurse_ok: !!silent}, ifMatch());
    await load(`${v.pinned_to ? t("unpinned_ok") : t("pinned_ok")}: ${t("version").toLowerCase()} ${r.version}`);
  } catch (e) { handleError(e); } });
}

// ---------------------------------------------------------------- move with preview
async function preview(id, nurseId, position) {
  const v = visit(id);
  if (!v) return;
  state.pending = {id, nurse: nurseId, position, pin: !!v.pinned_to, base: state.board.version};
  try {
    const r = await api("POST", `/nights/${night()}/plan/moves`, {visit_id: vidNumber(id), nurse: nurseId,
      position, pin: !!v.pinned_to, dry_run: true}, ifMatch());
    showPreview(r);
  } catch (e) { state.pending = null; handleError(e); }
}
function showPreview(r) {
  const p = state.pending, c = r.consequences;
  const route = r.plan.routes.find((x) => x.nurse_id === p.nurse);
  const table = el("table", {}, el("tr", {}, el("th", {}, "#"), el("th", {}, t("client")), el("th", {}, t("eta")), el("th", {}, "")));
  for (const s of route ? route.steps.filter((s) => s.type === "visit") : []) {
    const v = visit(s.visit_id);
    table.append(el("tr", {class: s.visit_id === p.id ? "moved" : ""},
      el("td", {}, (s.visit_id === p.id ? "→ " : "") + s.visit_id), el("td", {}, v ? v.client.name : ""),
      el("td", {}, clock(s.start)), el("td", {class: s.lateness_seconds ? "bad" : ""}, s.lateness_seconds ? `${t("late")} ${minutes(s.lateness_seconds)}` : "")));
  }
  const later = Object.entries(c.later_visits);
  const body = [
    el("p", {}, el("strong", {}, `${p.id} → ${p.nurse}`), ` (${nurse(p.nurse).name})`),
    el("h4", {}, `${t("new_etas")} ${p.nurse}`), table,
    el("p", {}, `${t("travel_change")}: ${minutes(c.travel_seconds_change)} · ${t("late_change")}: ${c.late_visits_change > 0 ? "+" : ""}${c.late_visits_change}`),
    el("p", {class: c.violations.length ? "bad" : ""}, `${t("rules_broken")}: `,
      c.violations.length ? el("ul", {}, ...c.violations.map((x) => el("li", {}, x.message))) : t("none")),
  ];
  if (later.length) body.push(el("p", {}, `${t("later")}: ` + later.map(([k, s]) => `${k} ${minutes(s)}`).join(", ")));
  // A silent nurse: the warning is shown, and confirming is the planner's acknowledgement.
  const warnings = r.warnings || [];
  for (const w of warnings) body.push(el("p", {class: "bad", "data-testid": "move-warning", role: "alert"}, w.message));
  p.ack = warnings.some((w) => w.code === "nurse_silent");
  $("confirm").textContent = p.ack ? t("confirm_anyway") : t("confirm");
  $("preview-body").replaceChildren(...body);
  $("preview").hidden = false;
  $("confirm").focus();
}
$("cancel").onclick = () => { state.pending = null; $("preview").hidden = true; };
$("confirm").onclick = () => ownChange(async () => {
  const p = state.pending;
  if (!p) return;
  try {
    const r = await api("POST", `/nights/${night()}/plan/moves`, {visit_id: vidNumber(p.id), nurse: p.nurse,
      position: p.position, pin: p.pin, silent_nurse_ok: !!p.ack}, {"If-Match": `"${p.base}"`});
    state.pending = null; $("preview").hidden = true;
    await load(`${t("moved")} ${r.version}`);
  } catch (e) { handleError(e); }
});

// ---------------------------------------------------------------- stale edits and errors
function handleError(e) {
  if (unauthorised(e)) return;  // signOut() said so; a 403 (not allowed) is said below
  if (e instanceof HttpError && e.status === 409 && e.body.current_version !== undefined) {
    $("preview").hidden = true;
    const given = state.pending ? state.pending.base : state.board.version;
    state.pending = null;
    $("stale-text").textContent = t("stale_text", {given, now: e.body.current_version});
    $("stale-changes").replaceChildren(...(e.body.changes || []).map((c) =>
      el("li", {}, `v${c.version}: ${c.reason} (${new Date(c.created_at).toLocaleTimeString(lang === "nl" ? "nl-NL" : "en-GB",
        {hour: "2-digit", minute: "2-digit", timeZone: "Europe/Amsterdam"})})`)));
    $("stale").hidden = false;
    $("stale-reload").focus();
    return;
  }
  say(e.message);
}
$("stale-reload").onclick = async () => { $("stale").hidden = true; await load(); };

// ---------------------------------------------------------------- re-optimise, publish
$("reopt").onclick = async () => {
  try {
    const job = await api("POST", `/nights/${night()}/plan/reoptimise`, {time_limit_seconds: 5}, ifMatch());
    $("reopt").disabled = true; state.busy = true;
    $("progress-wrap").hidden = false; $("progress-text").textContent = t("reoptimising");
    const follow = async () => {
      let j;
      try { j = await api("GET", `/jobs/${job.id}`); } catch (e) {
        $("progress-wrap").hidden = true; state.busy = false;
        $("reopt").disabled = unauthorised(e);  // signed out: nothing to re-optimise
        handleError(e); return;
      }
      if (j.status === "succeeded" || j.status === "failed") {
        $("progress-wrap").hidden = true; state.busy = false; $("reopt").disabled = false;
        if (j.status === "failed") { say(`${t("reopt_failed")}: ${j.error || ""}`); await load(); return; }
        await load(`${t("reopt_done")} ${j.result.plan_version}`);
      } else {
        $("progress-text").textContent = j.progress.slice(-1)[0] || t("reoptimising");
        setTimeout(follow, 400);
      }
    };
    follow();
  } catch (e) { handleError(e); }
};
$("publish").onclick = () => ownChange(async () => {
  try {
    const r = await api("POST", `/nights/${night()}/plan/publish`, null, ifMatch());
    await load(t("published", {v: r.version, n: r.published_nurse_ids.length}));
  } catch (e) { handleError(e); }
});

// ---------------------------------------------------------------- urgent call by hand
$("urgent-open").onclick = () => {
  const seen = new Map();
  for (const v of state.board.visits) seen.set(v.client.id, v.client.name);
  $("urgent-client").replaceChildren(...[...seen].sort((a, b) => a[1].localeCompare(b[1]))
    .map(([id, name]) => el("option", {value: String(id)}, name)));
  $("urgent-options").hidden = true;
  $("urgent").hidden = false;
  $("urgent-client").focus();
};
$("urgent-close").onclick = () => { $("urgent").hidden = true; };
const urgentBody = () => ({client_id: Number($("urgent-client").value), urgency: $("urgent-urgency").value,
  care_task: $("urgent-task").value, service_minutes: Number($("urgent-minutes").value)});
$("urgent").onsubmit = async (e) => {
  e.preventDefault();
  try {
    const r = await api("POST", `/nights/${night()}/board/urgent-calls/quote`, urgentBody());
    const list = $("urgent-list");
    list.replaceChildren();
    const first = r.options.findIndex((o) => o.feasible);
    r.options.forEach((o, i) => {
      const text = o.feasible
        ? `${o.nurse_id} · ${t("eta")} ${clock(o.eta)}${o.lateness_seconds ? ` (${t("late")} ${minutes(o.lateness_seconds)})` : ""} · ` +
          `${t("travel_more")} ${minutes(o.added_travel_seconds)} · ${t("others_later")} ${minutes(o.added_lateness_others_seconds)}`
        : `${o.nurse_id} · ${t("not_possible")}: ${o.reason}`;
      const shown = o.silent ? `${text} · ${t("silent_short")}` : text;
      list.append(el("label", {class: "option"}, el("input", {type: "radio", name: "urgent-option", value: o.nurse_id,
        "data-testid": "urgent-option", "data-silent": o.silent ? "true" : "false", disabled: !o.feasible,
        checked: i === first}), " " + shown));
    });
    $("urgent-options").hidden = false;
    $("urgent-take").disabled = first < 0;
  } catch (err) { handleError(err); }
};
$("urgent-take").onclick = () => ownChange(async () => {
  const chosen = document.querySelector('input[name="urgent-option"]:checked');
  if (!chosen) return;
  try {
    const silent = chosen.dataset.silent === "true";
    const n = nurse(chosen.value);
    if (silent && !window.confirm(t("pin_silent", {n: chosen.value, since: n && n.phone.silent ? hhmm(n.phone.silent_since) : "?"}))) return;
    const r = await api("POST", `/nights/${night()}/board/urgent-calls`, {...urgentBody(), nurse: chosen.value,
      silent_nurse_ok: silent}, ifMatch());
    $("urgent").hidden = true;
    await load(t("urgent_taken", {id: r.visit_id, n: chosen.value, v: r.plan_version}));
    select(r.visit_id);
  } catch (err) { handleError(err); }
});

// ---------------------------------------------------------------- live: the stream, else polling
async function seen(r) {
  if (state.busy || state.acting) return;
  // No board yet (no plan when she signed in): drawn once the night has one.
  if (!state.board) { if (r.version > 0) await load(`${t("updated")} ${r.version}`); return; }
  if (r.version === state.board.version) return;
  if (state.pending) { say(t("changed_since", {v: r.version})); return; }  // keep the preview: confirming explains
  await load(`${t("updated")} ${r.version}`);
}
async function pollVersion() {
  if (!state.token || state.live === "stream") return;
  // A 401 signs her out (api); anything else: next time.
  try { await seen(await api("GET", `/nights/${night()}/board/version`)); } catch (e) { /* next time */ }
}
async function stream() {
  // Server-sent events read with fetch (EventSource cannot send the Authorization header).
  // The stream ends now and then; reconnect. On any failure the 3 s polling takes over.
  // One loop per sign-in: a newer sign-in's loop or a sign-out ends this one.
  const run = ++state.streamRun, token = state.token;
  const mine = () => state.streamRun === run && state.token === token;
  while (mine()) {
    const stop = new AbortController();
    state.streamStop = stop;
    try {
      const r = await fetch(`/nights/${night()}/board/stream?seconds=300`,
        {headers: {Authorization: "Bearer " + token, Accept: "text/event-stream"}, signal: stop.signal});
      if (r.status === 401) { signOut(token); return; }
      if (!r.ok || !r.body) throw new Error(String(r.status));
      state.live = "stream";
      $("app").dataset.live = "stream";
      const reader = r.body.pipeThrough(new TextDecoderStream()).getReader();
      let buffer = "";
      for (;;) {
        const {value, done} = await reader.read();
        if (done) break;
        buffer += value;
        let cut;
        while ((cut = buffer.indexOf("\n\n")) >= 0) {
          const message = buffer.slice(0, cut); buffer = buffer.slice(cut + 2);
          // The server's last word when her credential is no longer valid.
          if (message.split("\n").includes(": signed out")) { signOut(token); return; }
          const data = message.split("\n").filter((l) => l.startsWith("data: ")).map((l) => l.slice(6)).join("");
          if (message.includes("event: plan") && data) await seen(JSON.parse(data));
        }
      }
    } catch (e) {
      if (!mine()) return;
      state.live = "poll";
      $("app").dataset.live = "poll";
      await new Promise((ok) => setTimeout(ok, 10000));
    }
  }
}

// The night as the last sign-in saw it leaves the page: clients' names, care tasks, times
// and places are health data, not for whoever stands at the screen next (red team s28: a
// refused sign-in after hers showed her whole board again).
function forget() {
  state.board = null; state.selected = null; state.pending = null; state.fitted = false;
  for (const id of ["timeline", "unassigned", "preview-body", "urgent-client", "urgent-list",
    "stale-changes", "legend"]) $(id).replaceChildren();
  $("detail").replaceChildren(el("p", {class: "muted"}, t("select_hint")));
  $("stale-text").textContent = "";
  $("plan-version").textContent = "–";
  if (state.layers) state.layers.clearLayers();
  for (const id of ["reopt", "publish", "urgent-open"]) $(id).disabled = true;
  for (const id of ["preview", "stale", "urgent", "progress-wrap", "board"]) $(id).hidden = true;
}

// A 401 (token expired, login deactivated, tokens revoked) or the stream's ": signed out":
// the board stops asking, says so, forgets the night it showed and shows the form.
// Only for the token that was refused: an answer to a call made before a new sign-in
// does not sign the new one out.
function signOut(token) {
  if (!state.token || state.token !== token) return;
  state.token = null; state.signedOut = true;
  clearInterval(state.poll); state.poll = null;
  if (state.streamStop) state.streamStop.abort();
  state.streamStop = null;
  state.live = "signed-out";
  $("app").dataset.live = "signed-out";
  state.busy = false;
  forget();
  $("board").inert = true;
  $("pass").value = "";
  $("login").hidden = false;
  $("status").classList.add("bad");
  say(t("signed_out"));
  $($("user").value ? "pass" : "user").focus();
}

// ---------------------------------------------------------------- map
function renderMap() {
  if (typeof L === "undefined") {
    $("map").replaceChildren(el("p", {class: "muted", style: "padding:1rem"}, t("no_lib")));
    return;
  }
  const b = state.board;
  if (!state.map) {
    state.map = L.map("map", {preferCanvas: false, zoomSnap: 0.25, attributionControl: true});
    state.map.attributionControl.setPrefix(false);
    state.map.attributionControl.addAttribution(t("osm"));
    state.map.setView([b.base[1], b.base[0]], 13);
    state.layers = L.layerGroup().addTo(state.map);
    drawRoads();
  }
  state.layers.clearLayers();
  const bounds = [];
  for (const r of b.routes) {
    if (r.line.length < 2) continue;
    const colour = nurse(r.nurse_id)?.colour || "#333";
    const line = L.polyline(r.line.map(([lon, lat]) => [lat, lon]), {color: colour, weight: 4, opacity: 0.85}).addTo(state.layers);
    const path = line.getElement();
    path.setAttribute("data-testid", "map-route"); path.setAttribute("data-nurse-id", r.nurse_id);
    path.setAttribute("data-along-roads", String(r.along_roads));
    r.line.forEach(([lon, lat]) => bounds.push([lat, lon]));
  }
  for (const v of b.visits) {
    const [lon, lat] = v.client.location;
    const late = v.planned && v.planned.late, risk = v.planned && v.planned.at_risk;
    const marker = L.circleMarker([lat, lon], {radius: state.selected === v.id ? 10 : 7, color: late ? "#000" : risk ? "#7a5200" : "#fff",
      weight: late || risk ? 3 : 1.5, dashArray: risk && !late ? "3 2" : null, fillColor: URGENCY_COLOUR[v.urgency] || "#555",
      fillOpacity: v.unassigned ? 0.35 : 0.95}).addTo(state.layers);
    marker.bindTooltip(tip(`${v.id} · ${v.client.name} · ${v.care_task || ""} · ${v.urgency}` +
      (v.planned ? ` · ${t("eta")} ${clock(v.planned.start)} (${v.planned.nurse_id})${late ? " · " + t("late") : risk ? " · " + t("at_risk") : ""}` : ` · ${t("unplanned")}`)));
    marker.on("click", () => select(v.id));
    const node = marker.getElement();
    node.setAttribute("data-testid", "map-visit"); node.setAttribute("data-visit-id", v.id);
    node.setAttribute("data-late", late ? "true" : "false");
    bounds.push([lat, lon]);
  }
  for (const n of b.nurses) {
    if (!n.last_position) continue;
    const [lon, lat] = n.last_position.location;
    const at = new Date(n.last_position.at).toLocaleTimeString("nl-NL", {hour: "2-digit", minute: "2-digit", timeZone: "Europe/Amsterdam"});
    const face = el("div", {class: "nurse-pin"}, n.id);
    face.style.background = n.colour;
    const pin = L.marker([lat, lon], {icon: L.divIcon({className: "", html: face, iconSize: [26, 26]}),
      keyboard: false}).bindTooltip(tip(`${n.id} · ${t("position")} ${at}`)).addTo(state.layers);
    pin.getElement().setAttribute("data-testid", "map-nurse");
    pin.getElement().setAttribute("data-nurse-id", n.id);
  }
  L.marker([b.base[1], b.base[0]], {icon: L.divIcon({className: "", html: el("div", {class: "base-pin"}, "B"), iconSize: [20, 20]}),
    keyboard: false}).bindTooltip(tip(t("base"))).addTo(state.layers);
  if (bounds.length && !state.fitted) { state.map.fitBounds(bounds, {padding: [20, 20]}); state.fitted = true; }
  const legend = $("legend");
  legend.replaceChildren(...["acute", "urgent", "soon", "planned"].map((u) =>
    el("li", {}, el("span", {class: "swatch", style: `background:${URGENCY_COLOUR[u]}`}), t("legend_" + u))),
    el("li", {}, el("span", {class: "swatch", style: "background:#fff;border:3px solid #000"}), t("legend_late")),
    el("li", {}, el("span", {class: "swatch", style: "background:#fff;border:3px dashed #7a5200"}), t("legend_risk")),
    el("li", {}, el("span", {class: "swatch", style: "background:#fff;border-radius:0;border-top:4px solid #12324a"}), t("pinned")),
    ...b.nurses.map((n) => el("li", {}, el("span", {class: "swatch", style: `background:${n.colour};border-radius:2px`}), n.id)));
}
async function drawRoads() {
  try {
    const roads = await api("GET", "/board/roads");
    const canvas = L.canvas({padding: 0.2});
    L.geoJSON(roads, {renderer: canvas, interactive: false, style: {color: "#9a9a9a", weight: 1, opacity: 0.8}}).addTo(state.map).bringToBack();
    state.roadsDrawn = true;
    $("map").dataset.roads = String(roads.features.length ? "drawn" : "none");
  } catch (e) { /* the routes still show */ }
}

// ---------------------------------------------------------------- sign in
$("login").onsubmit = async (e) => {
  e.preventDefault();
  try {
    const r = await fetch("/auth/token", {method: "POST", headers: {"Content-Type": "application/json"},
      body: JSON.stringify({username: $("user").value, password: $("pass").value})});
    const data = await r.json();
    if (!r.ok) throw new Error(data.detail || t("sign_in_failed"));
    state.token = data.access_token; state.signedOut = false;
    $("status").classList.remove("bad");
    $("login").hidden = true; $("board").hidden = false; $("board").inert = false;
    say(t("loading"));
    try { await load(""); } catch (err) {
      if (!(err instanceof HttpError && err.status === 404)) throw err;
      // No plan for this night yet. The board still listens: it returned here before
      // polling and streaming, so the night she then planned stayed on the screen, never
      // updated and never signed out (red team s29).
      say(t("no_plan")); $("reopt").disabled = false;
    }
    clearInterval(state.poll);
    state.poll = setInterval(pollVersion, 3000);
    stream();
  } catch (err) {
    if (unauthorised(err)) return;
    // Signed in but not allowed to read the board (a 403), or it failed: no board is shown
    // and the form is back for another sign-in.
    state.token = null;
    forget();
    $("login").hidden = false;
    say(`${t("sign_in_failed")}: ${err.message}`);
  }
};
const params = new URLSearchParams(location.search);
if (params.get("night")) $("night").value = params.get("night");
else $("night").valueAsDate = new Date(Date.now() - 7 * 3600e3);
$("night").onchange = () => { if (state.token) { state.fitted = false; load("").catch(handleError); } };
applyLanguage();
