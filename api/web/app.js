// The operator page: pending recommendations, their explanation and map, approve / reject,
// active plans and a junction's history. French and English. The token comes from the URL
// fragment (#token=..., as an identity provider's redirect gives it) or from a proxy in front.
"use strict";
const T = {
  fr: { pending: "Recommandations en attente", junction: "Carrefour", cycle: "Cycle",
    delay: "Retard attendu", validity: "Validité", none: "Aucune recommandation en attente.",
    why: "Pourquoi", changes: "Ce qui change par rapport au plan actif", approaches: "Débits mesurés",
    reason: "Motif", approve: "Approuver", reject: "Rejeter", active: "Plans actifs",
    greens: "Verts", approved_by: "Approuvé par", history: "Historique", now: "actif",
    proposed: "proposé", phase: "Phase", green: "vert", delay_row: "Retard moyen (s/véh)",
    none_active: "aucun plan actif", approved: "Approuvé", rejected: "Rejeté",
    need_reason: "Un rejet demande un motif.", flow: "véh/h", unmeasured: "non mesuré",
    other: "English",
    recommendation: "proposition", decision: "décision", suspension: "suspension", resume: "reprise",
    policy: "politique", "envelope-withdrawn": "enveloppe retirée", configuration: "configuration",
    "st-approved": "approuvée", "st-rejected": "rejetée", "st-superseded": "remplacée",
    "st-expired": "expirée", "st-proposed": "proposée" },
  en: { pending: "Pending recommendations", junction: "Junction", cycle: "Cycle",
    delay: "Expected delay", validity: "Valid", none: "No pending recommendation.",
    why: "Why", changes: "What changes against the active plan", approaches: "Measured flows",
    reason: "Reason", approve: "Approve", reject: "Reject", active: "Active plans",
    greens: "Greens", approved_by: "Approved by", history: "History", now: "active",
    proposed: "proposed", phase: "Phase", green: "green", delay_row: "Mean delay (s/veh)",
    none_active: "no active plan", approved: "Approved", rejected: "Rejected",
    need_reason: "A rejection needs a reason.", flow: "veh/h", unmeasured: "not measured",
    other: "Français",
    recommendation: "proposal", decision: "decision", suspension: "suspension", resume: "resume",
    policy: "policy", "envelope-withdrawn": "envelope withdrawn", configuration: "configuration",
    "st-approved": "approved", "st-rejected": "rejected", "st-superseded": "superseded",
    "st-expired": "expired", "st-proposed": "proposed" },
};
let lang = new URLSearchParams(location.search).get("lang") || localStorage.getItem("lang") || (navigator.language.startsWith("en") ? "en" : "fr");
let token = sessionStorage.getItem("token") || "";
let commune = "";
let selected = null;
const m = location.hash.match(/token=([^&]+)/);
if (m) { token = decodeURIComponent(m[1]); sessionStorage.setItem("token", token); history.replaceState(null, "", location.pathname + location.search); }
const $ = (id) => document.getElementById(id);
const t = (k) => T[lang][k] || k;
const hm = (iso) => new Date(iso).toISOString().slice(11, 16);

async function api(path, opts = {}) {
  const headers = { "Content-Type": "application/json" };
  if (token) headers.Authorization = "Bearer " + token;
  const r = await fetch("/api" + path, { ...opts, headers });
  const body = await r.json().catch(() => ({}));
  if (!r.ok) throw new Error(body.detail || r.statusText);
  return body;
}

function translate() {
  document.documentElement.lang = lang;
  document.querySelectorAll("[data-t]").forEach((e) => { e.textContent = t(e.dataset.t); });
  $("lang").textContent = t("other");
}

// "Rue Dedieu — 80 m from Cours Émile Zola × Rue Dedieu": a junction named by one street only is
// told apart by where it is
const named = (r) => r.junction + (r.junction_near ? ` — ${r.junction_near[lang]}` : "");

function cell(tr, text, cls) { const td = tr.insertCell(); td.textContent = text; if (cls) td.className = cls; return td; }

async function loadPending() {
  const recs = await api(`/communes/${commune}/recommendations`);
  const body = $("pending").tBodies[0];
  body.replaceChildren();
  $("empty").hidden = recs.length > 0;
  for (const r of recs) {
    const tr = body.insertRow();
    tr.className = "row" + (selected && selected.id === r.id ? " selected" : "");
    tr.dataset.id = r.id;
    cell(tr, named(r));
    cell(tr, `${r.cycle_s} s`);
    cell(tr, `${r.expected_effect.mean_delay_s_per_veh.toFixed(1)} s`);
    cell(tr, `${hm(r.valid_from)}–${hm(r.valid_until)} UTC`);
    tr.onclick = () => show(r);
  }
  return recs;
}

async function loadActive() {
  const plans = await api(`/communes/${commune}/active`);
  const body = $("active").tBodies[0];
  body.replaceChildren();
  for (const a of plans) {
    const tr = body.insertRow();
    tr.dataset.junction = a.junction_id;
    cell(tr, named(a)); cell(tr, `${a.cycle_s} s`); cell(tr, a.greens_s.join(" / ") + " s");
    cell(tr, a.approved_by + (a.auto ? " (auto)" : ""));
  }
}

function drawMap(map) {
  // The city's own OSM geometry from the network model, projected on metres around the junction;
  // the view fits the junction, its exits and its neighbours' approaches (no tile server).
  const svg = $("map");
  svg.replaceChildren();
  const [lon0, lat0] = map.center;
  const k = Math.cos(lat0 * Math.PI / 180);
  const xy = ([lon, lat]) => [(lon - lon0) * 111320 * k, -(lat - lat0) * 110540];
  const [w, s, e, n] = map.bounds;
  const [x0, y1] = xy([w, s]), [x1, y0] = xy([e, n]);
  const half = Math.max(80, x1 - x0, y1 - y0) / 2 + 40;
  const cx = (x0 + x1) / 2, cy = (y0 + y1) / 2;
  svg.setAttribute("viewBox", `${cx - half} ${cy - half} ${2 * half} ${2 * half}`);
  const font = (2 * half) / 40;
  const ns = "http://www.w3.org/2000/svg";
  const line = (coords, cls, lanes) => {
    const p = document.createElementNS(ns, "polyline");
    p.setAttribute("points", coords.map((c) => xy(c).join(",")).join(" "));
    p.setAttribute("class", cls);
    p.setAttribute("stroke-width", String(1.5 + 1.5 * lanes));
    p.setAttribute("vector-effect", "non-scaling-stroke");
    svg.appendChild(p);
  };
  const text = (x, y, label, cls) => {
    const t = document.createElementNS(ns, "text");
    t.setAttribute("x", String(x)); t.setAttribute("y", String(y));
    t.setAttribute("font-size", String(cls === "here" ? font : 0.8 * font));
    t.setAttribute("class", "label-" + cls);
    t.textContent = label;
    svg.appendChild(t);
  };
  for (const l of map.lines.filter((l) => !l.here)) line(l.coordinates, "street", l.lanes);
  for (const x of map.exits) line(x.coordinates, "street exit", x.lanes);
  for (const l of map.lines.filter((l) => l.here)) line(l.coordinates, "street here", l.lanes);
  for (const o of map.junctions) {
    if (o.id === map.junction.id) continue;
    const [x, y] = xy([o.lon, o.lat]);
    const c = document.createElementNS(ns, "circle");
    c.setAttribute("cx", String(x)); c.setAttribute("cy", String(y));
    c.setAttribute("r", String(font / 3)); c.setAttribute("class", "neighbour");
    svg.appendChild(c);
  }
  // street names: the junction's own at the upstream end of its approaches, the others once each
  const named = new Set();
  for (const l of map.lines.filter((l) => l.here && l.name)) {
    if (named.has(l.name)) continue;
    const [x, y] = xy(l.coordinates[0]);
    text(x, y, l.name, "here"); named.add(l.name);
  }
  for (const l of map.lines.filter((l) => !l.here && l.name)) {
    if (named.has(l.name)) continue;
    const [x, y] = xy(l.coordinates[Math.floor(l.coordinates.length / 2)]);
    text(x, y, l.name, "other"); named.add(l.name);
  }
  const dot = document.createElementNS(ns, "circle");
  dot.setAttribute("r", String(font / 1.6)); dot.setAttribute("fill", "#d2521d");
  svg.appendChild(dot);
  $("attribution").textContent = map.attribution;
}

async function show(r) {
  selected = r;
  $("detail").hidden = false;
  $("message").textContent = "";
  $("d-title").textContent = named(r);
  const ex = r.explanation;
  $("d-text").textContent = lang === "fr" ? ex.text_fr : ex.text_en;
  const w = $("d-warnings"); w.replaceChildren();
  for (const x of ex.warnings) {
    const li = document.createElement("li");
    li.textContent = typeof x === "string" ? x : x[lang];
    w.appendChild(li);
  }
  const ch = r.changes, body = $("d-changes").tBodies[0];
  body.replaceChildren();
  const row = (label, [a, b], unit) => {
    const tr = body.insertRow(); cell(tr, label);
    cell(tr, a === null || a === undefined ? t("none_active") : `${a}${unit}`);
    const c = cell(tr, `${b}${unit}`, a !== null && b > a ? "up" : a !== null && b < a ? "down" : "");
    return c;
  };
  const head = body.insertRow(); cell(head, ""); cell(head, t("now")); cell(head, t("proposed"));
  row(t("cycle"), ch.cycle_s, " s");
  for (const p of ch.phases) row(`${t("phase")} ${p.index} (${t("green")})`, p.green_s, " s");
  row(t("delay_row"), ch.delay_s_per_veh.map((v) => v === null ? null : Number(v).toFixed(1)), "");
  const ab = $("d-approaches").tBodies[0]; ab.replaceChildren();
  for (const a of ex.approaches) {
    const tr = ab.insertRow(); cell(tr, a.name[lang]);
    cell(tr, a.measured ? `${Math.round(a.flow_vph)} ${t("flow")}` : t("unmeasured"));
    cell(tr, `x = ${a.degree_of_saturation.toFixed(2)}`);
  }
  document.querySelectorAll("#pending tr.row").forEach((e) => e.classList.toggle("selected", e.dataset.id === r.id));
  $("detail").scrollIntoView();
  drawMap(await api(`/communes/${commune}/junctions/${r.junction_id}/map`));
  await loadHistory(r.junction_id);
}

async function loadHistory(junction) {
  const h = await api(`/communes/${commune}/junctions/${junction}/history`);
  $("history-section").hidden = false;
  const body = $("history").tBodies[0]; body.replaceChildren();
  for (const x of h.trail.slice().reverse()) {
    const tr = body.insertRow();
    cell(tr, x.at.slice(0, 19).replace("T", " ")); cell(tr, t(x.kind));
    cell(tr, x.status ? t("st-" + x.status) : "");
    cell(tr, x.actor + (x.auto ? " (auto)" : "")); cell(tr, x.reason || "");
  }
}

async function decide(action) {
  if (!selected) return;
  const reason = $("reason").value;
  if (action === "reject" && !reason.trim()) { $("message").textContent = t("need_reason"); return; }
  try {
    await api(`/communes/${commune}/recommendations/${selected.id}/${action}`, { method: "POST", body: JSON.stringify({ reason }) });
    $("message").textContent = `${t(action === "approve" ? "approved" : "rejected")}: ${selected.junction}`;
    const j = selected.junction_id;
    selected = null; $("reason").value = "";
    await Promise.all([loadPending(), loadActive(), loadHistory(j)]);
  } catch (e) { $("message").textContent = e.message; }
}

async function start() {
  translate();
  $("lang").onclick = async () => {
    lang = lang === "fr" ? "en" : "fr"; localStorage.setItem("lang", lang); translate();
    await refresh(); if (selected) await show(selected);
  };
  $("approve").onclick = () => decide("approve");
  $("reject").onclick = () => decide("reject");
  try {
    const me = await api("/me");
    $("who").textContent = me.name;
    const sel = $("commune");
    for (const c of me.communes) { const o = document.createElement("option"); o.value = c.id; o.textContent = c.name; sel.appendChild(o); }
    commune = me.communes.length ? me.communes[0].id : "";
    sel.onchange = () => { commune = sel.value; selected = null; $("detail").hidden = true; refresh(); };
    await refresh();
    document.body.dataset.ready = "1";
  } catch (e) { $("who").textContent = e.message; document.body.dataset.ready = "error"; }
}

async function refresh() { if (commune) await Promise.all([loadPending(), loadActive()]); }

start();
