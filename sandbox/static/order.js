// Order entry of the painpa sandbox EHR: fires order-select on selection, order-sign on sign and
// appointment-book on schedule (CDS Hooks 2.0), shows the cards, sends feedback, opens SMART links.
// No framework, no CDN.
(function () {
  "use strict";
  const form = document.getElementById("order-form");
  const catalog = JSON.parse(document.getElementById("catalog").textContent);
  const codeSel = document.getElementById("code");
  const familySel = document.getElementById("family");
  const cardsEl = document.getElementById("cards");
  const coverageEl = document.getElementById("coverage");
  const statusEl = document.getElementById("hook-status");
  const signStatus = document.getElementById("sign-status");
  const patient = form.dataset.patient;
  const encounter = form.dataset.encounter || null;
  let hookInstance = null;
  let timer = null;

  function fillCodes(keep) {
    const family = familySel.value;
    codeSel.textContent = "";
    for (const item of catalog[family] || []) {
      const opt = document.createElement("option");
      opt.value = item.code;
      opt.textContent = item.code + " – " + item.label;
      codeSel.appendChild(opt);
    }
    if (keep && [...codeSel.options].some(o => o.value === keep)) codeSel.value = keep;
  }

  function order() {
    const data = Object.fromEntries(new FormData(form).entries());
    data.draft_id = form.dataset.draftId;
    delete data.prefetch;
    return data;
  }

  async function post(url, body) {
    const resp = await fetch(url, {method: "POST", headers: {"Content-Type": "application/json"},
                                   body: JSON.stringify(body)});
    const data = await resp.json().catch(() => ({error: "HTTP " + resp.status}));
    if (!resp.ok) throw new Error(data.error || ("HTTP " + resp.status));
    return data;
  }

  function el(tag, text, cls) {
    const e = document.createElement(tag);
    if (text !== undefined) e.textContent = text;
    if (cls) e.className = cls;
    return e;
  }

  // CRD coverage-information codes, in the words a physician reads (the codes stay in data-*).
  const COVERED = {"covered": "Covered", "not-covered": "Not covered",
                   "conditional": "Covered only once the missing documentation is recorded"};
  const PA = {"no-auth": "no prior authorization needed", "auth-needed": "prior authorization needed",
              "satisfied": "prior authorization on file", "conditional": "prior authorization rules unknown for this plan"};
  const DOC = {"clinical": "clinical documentation missing", "admin": "administrative documentation missing",
               "both": "clinical and administrative documentation missing"};

  function coverageWords(row) {
    const parts = [COVERED[row.covered] || "Coverage unknown"];
    if (row["pa-needed"]) {
      parts.push((PA[row["pa-needed"]] || "prior authorization unknown")
                 + (row["satisfied-pa-id"] ? " (UTN " + row["satisfied-pa-id"] + ")" : ""));
    }
    if (row["doc-needed"]) parts.push(DOC[row["doc-needed"]] || "documentation missing");
    return parts.join("; ");
  }

  function renderCoverage(rows) {
    coverageEl.textContent = "";
    for (const row of rows || []) {
      const p = el("p", coverageWords(row) + ".", "coverage");
      p.dataset.testid = "coverage-row";
      p.dataset.covered = row.covered || "";
      p.dataset.paNeeded = row["pa-needed"] || "";
      coverageEl.appendChild(p);
      // DTR: each form the payer names opens the DTR app on that form (fhirContext: order, Coverage, form).
      for (const canonical of (row.questionnaire || "").split(", ").filter(Boolean)) {
        const b = el("button", "Fill in the payer's form", "smart-link");
        b.type = "button";
        b.dataset.testid = "dtr-launch";
        b.dataset.questionnaire = canonical;
        b.addEventListener("click", () => launch({questionnaire: canonical}));
        coverageEl.appendChild(b);
        formTitle(canonical).then(t => { if (t) b.textContent = "Fill in the payer's form: " + t; });
      }
    }
  }

  // The form's title, from the payer's DTR service (canonical resolution, GET Questionnaire?url=).
  async function formTitle(canonical) {
    try {
      const resp = await fetch("/dtr/Questionnaire?url=" + encodeURIComponent(canonical.split("|")[0]));
      const bundle = await resp.json();
      return ((bundle.entry || [])[0] || {resource: {}}).resource.title || "";
    } catch (e) { return ""; }
  }

  function renderCards(result) {
    cardsEl.textContent = "";
    hookInstance = result.hookInstance;
    if (!result.cards.length) cardsEl.appendChild(el("p", "No cards: painpa has nothing to add.", "muted"));
    const tpl = document.getElementById("card-template");
    for (const card of result.cards) {
      const node = tpl.content.firstElementChild.cloneNode(true);
      node.dataset.indicator = card.indicator;
      node.dataset.uuid = card.uuid || "";
      node.classList.add(card.indicator);
      node.querySelector(".indicator").textContent = card.indicator;
      node.querySelector(".summary").textContent = card.summary;
      node.querySelector(".detail").innerHTML = card.detail_html;  // rendered server-side, raw HTML disabled
      node.querySelector(".source").textContent = "Source: " + ((card.source || {}).label || "");
      const links = node.querySelector(".links");
      let smartIndex = 0;
      for (const link of card.links || []) {
        if (link.type === "smart") {
          const b = el("button", link.label, "smart-link");
          b.type = "button";
          b.dataset.testid = "card-link";
          const idx = smartIndex++;
          b.addEventListener("click", () => launch({card: card.uuid, link: idx}));
          links.appendChild(b);
        } else if (/^https?:/i.test(link.url)) {
          const a = el("a", link.label);
          a.href = link.url; a.target = "_blank"; a.rel = "noopener noreferrer";
          a.dataset.testid = "card-absolute-link";
          links.appendChild(a);
        }
      }
      const sugg = node.querySelector(".suggestions");
      for (const s of card.suggestions || []) {
        const b = el("button", "Accept: " + s.label, "suggestion");
        b.type = "button";
        b.dataset.testid = "card-suggestion";
        b.addEventListener("click", async () => {
          try { await post("/ehr/api/accept", {hookInstance, card: card.uuid, suggestion: s.uuid});
                b.textContent = "Accepted: " + s.label; b.disabled = true; schedule(); }
          catch (e) { b.textContent = "Could not apply: " + e.message; }
        });
        sugg.appendChild(b);
      }
      const reasonSel = node.querySelector(".reason");
      reasonSel.appendChild(el("option", "(no coded reason)"));
      reasonSel.firstChild.value = "";
      for (const r of card.overrideReasons || []) {
        const o = el("option", r.display || r.code); o.value = r.code; reasonSel.appendChild(o);
      }
      if (!card.uuid) node.querySelector(".override").remove();
      else node.querySelector(".send-override").addEventListener("click", async (ev) => {
        try {
          await post("/ehr/api/override", {hookInstance, card: card.uuid, reason: reasonSel.value || null,
                                           comment: node.querySelector(".comment").value || null});
          ev.target.textContent = "Override sent"; ev.target.disabled = true;
        } catch (e) { ev.target.textContent = "Failed: " + e.message; }
      });
      cardsEl.appendChild(node);
    }
    renderCoverage(result.coverage);
    document.getElementById("hook-request").textContent = JSON.stringify(result.request, null, 2);
  }

  async function select() {
    statusEl.textContent = "(order-select…)";
    try {
      const result = await post("/ehr/api/hooks/order-select", {patient, encounter, order: order(),
                                                                  prefetch: document.getElementById("prefetch").checked});
      renderCards(result);
      statusEl.textContent = "(order-select: " + result.cards.length + " card(s))";
    } catch (e) {
      statusEl.textContent = "(order-select failed)";
      cardsEl.textContent = "";
      cardsEl.appendChild(el("p", e.message, "error"));
    }
  }

  function schedule() { clearTimeout(timer); timer = setTimeout(select, 250); }

  async function launch(extra) {
    // Open the tab synchronously (popup blockers), then point it at the launch URL.
    const win = window.open("about:blank", "_blank");
    try {
      const data = await post("/ehr/api/launch", Object.assign({hookInstance, patient, encounter}, extra));
      if (win) win.location = data.url; else window.location = data.url;
    } catch (e) {
      if (win) win.close();
      statusEl.textContent = "(launch failed: " + e.message + ")";
    }
  }

  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    signStatus.textContent = "Signing: order-sign…";
    try {
      const result = await post("/ehr/api/sign", {patient, encounter, order: order(),
                                                  prefetch: document.getElementById("prefetch").checked});
      renderCards(result);
      statusEl.textContent = "(order-sign: " + result.cards.length + " card(s))";
      signStatus.dataset.signed = result.signed ? "true" : "false";
      if (!result.signed) {
        signStatus.textContent = "Not signed: resolve or override the critical card first.";
        return;
      }
      // Signed once: the button cannot sign the same order again; the result is said in words.
      const sign = document.getElementById("sign");
      sign.disabled = true;
      sign.textContent = "Signed";
      const label = codeSel.options[codeSel.selectedIndex].textContent;
      const picked = document.getElementById("date").value;
      const when = picked ? new Date(picked + "T00:00:00").toLocaleDateString(
        "en-GB", {day: "numeric", month: "short", year: "numeric"}) : "no date of service";
      const rows = (result.coverage || []).map(coverageWords);
      signStatus.textContent = "Signed: " + label + " on " + when + " is on the chart as an active order."
        + (rows.length ? " " + rows.join(". ") + "." : "");
    } catch (e) { signStatus.textContent = "Signing failed: " + e.message; }
  });

  const scheduleStatus = document.getElementById("schedule-status");
  document.getElementById("schedule").addEventListener("click", async () => {
    scheduleStatus.textContent = "Scheduling: appointment-book…";
    delete scheduleStatus.dataset.booked;
    try {
      const result = await post("/ehr/api/schedule", {patient, encounter, order: form.dataset.draftId,
                                                      date: document.getElementById("appointment-date").value,
                                                      prefetch: document.getElementById("prefetch").checked});
      renderCards(result);
      statusEl.textContent = "(appointment-book: " + result.cards.length + " card(s))";
      scheduleStatus.textContent = result.booked ? "Booked: " + document.getElementById("appointment-date").value
        : "Not booked: resolve or override the critical card first.";
      scheduleStatus.dataset.booked = result.booked ? "true" : "false";
    } catch (e) { scheduleStatus.textContent = "Scheduling failed: " + e.message; }
  });

  familySel.addEventListener("change", () => { fillCodes(); schedule(); });
  codeSel.addEventListener("change", schedule);
  for (const id of ["levels", "laterality", "date", "state", "pos"]) {
    document.getElementById(id).addEventListener("change", schedule);
  }
  document.getElementById("recheck").addEventListener("click", select);
  document.getElementById("open-app").addEventListener("click", () => launch({}));
  fillCodes(codeSel.dataset.default);
  select();  // the default procedure is selected on arrival: order-select fires
})();
