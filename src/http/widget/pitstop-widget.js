// The pitstop widget: the seed's "Déploiement & Maintenance" panel as a
// custom element, <pitstop-widget base-url="http://pi:8000">. pitstop
// serves it at / and at /widget/pitstop-widget.js for embedding in the
// bot's dashboard (allow the dashboard's origin in `server.allowed_origins`).
//
// No build step and no outside network: plain JavaScript, styles inline,
// everything in this one file. The API key is asked once and kept in the
// browser's sessionStorage; nothing is shown or done without it.
(() => {
  "use strict";

  const KEY_STORE = "pitstop.apiKey";
  const LANG_STORE = "pitstop.lang";
  const REFRESH_MS = 10000;

  const TEXT = {
    en: {
      title: "Deployment & Maintenance",
      refresh: "Refresh",
      forget: "Forget key",
      keyLabel: "API key",
      keyHint: "The key is kept in this browser tab only.",
      connect: "Connect",
      services: "Services",
      jobs: "RQ jobs",
      queued: "Queued",
      started: "Running",
      finished: "Finished",
      failed: "Failed",
      lists: { queued: "Queued", started: "Running", finished: "Last 10 finished", failed: "Last 10 failed" },
      noActions: "None declared in actions.toml.",
      total: "Total",
      noJobs: "none",
      error: "Error",
      maintenance: "Maintenance",
      deploy: "Deploy",
      service: "Service",
      allServices: "all services",
      stop: "Emergency stop",
      stopAsk: "Stop every running job and empty the queue now?",
      stopConfirm: "Yes, stop everything",
      cancel: "Cancel",
      stopped: (r) => `${r.queued_removed} queued job(s) removed, ${r.stopped_confirmed} running job(s) stopped` +
        (r.stop_undeliverable ? `, ${r.stop_undeliverable} could not be reached` : "") + ".",
      history: "Recent history",
      when: "When", what: "What", who: "Who", outcome: "Outcome", took: "Took",
      noHistory: "Nothing has run yet.",
      running: "Running…",
      done: "Done",
      failedRun: "Failed",
      alreadyRunning: "This action is already running.",
      wrongKey: "Wrong API key: enter it again.",
      noKeyConfigured: "pitstop has no API key configured: set API_KEY where it runs.",
      redisDown: "Redis is unreachable: jobs cannot be shown or stopped until it is back.",
      offline: "pitstop does not answer.",
      updated: (t) => `Updated ${t} · refreshes every 10 s`,
      status: { running: "running", stopped: "stopped", error: "error" },
      uptime: "up",
      lang: "Français",
      langCode: "FR",
    },
    fr: {
      title: "Déploiement & Maintenance",
      refresh: "Rafraîchir les données",
      forget: "Oublier la clé",
      keyLabel: "Clé API",
      keyHint: "La clé est gardée dans cet onglet seulement.",
      connect: "Se connecter",
      services: "Services",
      jobs: "Jobs RQ",
      queued: "En attente",
      started: "En cours",
      finished: "Terminés",
      failed: "Échoués",
      lists: { queued: "En attente", started: "En cours", finished: "10 derniers terminés", failed: "10 derniers échoués" },
      noActions: "Aucune déclarée dans actions.toml.",
      total: "Total",
      noJobs: "aucun",
      error: "Erreur",
      maintenance: "Maintenance",
      deploy: "Déploiement",
      service: "Service",
      allServices: "tous les services",
      stop: "Arrêt d'urgence",
      stopAsk: "Arrêter tous les jobs en cours et vider la file maintenant ?",
      stopConfirm: "Oui, tout arrêter",
      cancel: "Annuler",
      stopped: (r) => `${r.queued_removed} job(s) retiré(s) de la file, ${r.stopped_confirmed} job(s) en cours arrêté(s)` +
        (r.stop_undeliverable ? `, ${r.stop_undeliverable} injoignable(s)` : "") + ".",
      history: "Historique récent",
      when: "Quand", what: "Quoi", who: "Qui", outcome: "Résultat", took: "Durée",
      noHistory: "Rien n'a encore été lancé.",
      running: "En cours…",
      done: "Terminé",
      failedRun: "Échec",
      alreadyRunning: "Cette action est déjà en cours.",
      wrongKey: "Clé API incorrecte : saisissez-la de nouveau.",
      noKeyConfigured: "pitstop n'a pas de clé API : définissez API_KEY là où il tourne.",
      redisDown: "Redis est injoignable : les jobs ne peuvent être ni affichés ni arrêtés avant son retour.",
      offline: "pitstop ne répond pas.",
      updated: (t) => `Mis à jour à ${t} · rafraîchi toutes les 10 s`,
      status: { running: "en marche", stopped: "arrêté", error: "en erreur" },
      uptime: "depuis",
      lang: "English",
      langCode: "EN",
    },
  };

  // Shapes from every font (emoji are boxes on a Pi without an emoji font);
  // the word beside them carries the meaning, not the colour.
  const ICON = { running: "●", stopped: "■", error: "▲" };

  const STYLE = `
    [hidden] { display: none !important; }
    :host { display: block; color: #111827; font: 15px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; }
    * { box-sizing: border-box; }
    .card { background: #fff; border: 1px solid #d1d5db; border-radius: 10px; padding: 1rem; }
    header { display: flex; flex-wrap: wrap; gap: .5rem; align-items: center; justify-content: space-between; margin-bottom: .75rem; }
    h2 { font-size: 1.25rem; margin: 0; }
    h3 { font-size: 1rem; margin: 0 0 .5rem; }
    .tools { display: flex; gap: .4rem; flex-wrap: wrap; }
    button, select, input { font: inherit; }
    button { border: 1px solid #374151; background: #fff; color: #111827; border-radius: 6px; padding: .45rem .8rem; cursor: pointer; min-height: 2.5rem; }
    button:hover { background: #f3f4f6; }
    button:disabled { opacity: .55; cursor: wait; }
    button:focus-visible, select:focus-visible, input:focus-visible, summary:focus-visible { outline: 3px solid #1d4ed8; outline-offset: 2px; }
    .danger { background: #b91c1c; border-color: #7f1d1d; color: #fff; font-weight: 600; }
    .danger:hover { background: #991b1b; }
    .primary { background: #1d4ed8; border-color: #1e3a8a; color: #fff; }
    .primary:hover { background: #1e40af; }
    .banner { border-radius: 6px; padding: .6rem .8rem; margin-bottom: .75rem; background: #fef3c7; border: 1px solid #92400e; color: #78350f; }
    .banner.bad { background: #fee2e2; border-color: #991b1b; color: #7f1d1d; }
    .grid { display: grid; gap: 1rem; grid-template-columns: repeat(auto-fit, minmax(18rem, 1fr)); }
    section.block { border-top: 1px solid #e5e7eb; padding-top: .75rem; }
    ul.services { list-style: none; margin: 0; padding: 0; }
    ul.services li { display: flex; justify-content: space-between; gap: .5rem; padding: .3rem 0; border-bottom: 1px dashed #e5e7eb; }
    .state-running { color: #065f46; } .state-stopped { color: #374151; } .state-error { color: #991b1b; }
    .muted { color: #4b5563; font-size: .9em; }
    dl.counts { display: grid; grid-template-columns: repeat(5, 1fr); gap: .25rem; margin: 0 0 .5rem; text-align: center; }
    dl.counts div { background: #f9fafb; border: 1px solid #e5e7eb; border-radius: 6px; padding: .3rem; }
    dl.counts dt { font-size: .8em; color: #4b5563; } dl.counts dd { margin: 0; font-size: 1.3em; font-weight: 600; }
    details { margin: .25rem 0; } summary { cursor: pointer; }
    ol.jobs { margin: .25rem 0; padding-left: 1.25rem; font-size: .9em; word-break: break-word; }
    pre { white-space: pre-wrap; background: #111827; color: #f9fafb; padding: .5rem; border-radius: 6px; font-size: .8em; max-height: 16rem; overflow: auto; }
    .buttons { display: flex; flex-wrap: wrap; gap: .5rem; }
    .action { display: flex; flex-direction: column; align-items: flex-start; }
    .action small { color: #4b5563; max-width: 16rem; }
    .run { margin-top: .75rem; }
    progress { width: 100%; height: 1rem; }
    .ok { color: #065f46; font-weight: 600; } .bad { color: #991b1b; font-weight: 600; }
    table { width: 100%; border-collapse: collapse; font-size: .9em; }
    th, td { text-align: left; padding: .3rem .25rem; border-bottom: 1px solid #e5e7eb; vertical-align: top; }
    form.key { display: flex; flex-wrap: wrap; gap: .5rem; align-items: end; }
    form.key label { display: flex; flex-direction: column; font-weight: 600; }
    form.key input { padding: .45rem; border: 1px solid #374151; border-radius: 6px; min-width: 16rem; }
    dialog { border: 1px solid #374151; border-radius: 10px; max-width: 26rem; }
    dialog::backdrop { background: rgba(0,0,0,.4); }
    .report { margin-top: .5rem; }
    @media (max-width: 30rem) { dl.counts { grid-template-columns: repeat(3, 1fr); } .tools { width: 100%; } }
  `;

  const esc = (s) => String(s ?? "").replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]));

  class PitstopWidget extends HTMLElement {
    connectedCallback() {
      if (this.root) return;
      this.root = this.attachShadow({ mode: "open" });
      this.base = (this.getAttribute("base-url") || "").replace(/\/$/, "");
      const stored = localStorage.getItem(LANG_STORE);
      this.lang = stored || ((navigator.language || "en").toLowerCase().startsWith("fr") ? "fr" : "en");
      this.key = sessionStorage.getItem(KEY_STORE) || "";
      this.actions = null;
      this.running = new Set();
      this.render();
      if (this.key) this.refresh();
      this.timer = setInterval(() => { if (this.key) this.refresh(); }, REFRESH_MS);
    }

    disconnectedCallback() { clearInterval(this.timer); }

    get t() { return TEXT[this.lang]; }

    $(selector) { return this.root.querySelector(selector); }

    render() {
      const t = this.t;
      this.setAttribute("lang", this.lang);
      this.root.innerHTML = `
        <style>${STYLE}</style>
        <div class="card" lang="${this.lang}">
          <header>
            <h2>${esc(t.title)}</h2>
            <div class="tools">
              <button type="button" data-do="refresh">${esc(t.refresh)}</button>
              <button type="button" data-do="lang" aria-label="${esc(t.lang)}" lang="${this.lang === "fr" ? "en" : "fr"}">${esc(t.langCode)}</button>
              <button type="button" data-do="forget" ${this.key ? "" : "hidden"}>${esc(t.forget)}</button>
            </div>
          </header>
          <div class="banner" role="alert" hidden></div>
          <form class="key" ${this.key ? "hidden" : ""}>
            <label>${esc(t.keyLabel)}<input name="key" type="password" autocomplete="off" required></label>
            <button class="primary" type="submit">${esc(t.connect)}</button>
            <span class="muted">${esc(t.keyHint)}</span>
          </form>
          <div class="body" ${this.key ? "" : "hidden"}>
            <div class="grid">
              <section class="block" aria-labelledby="h-services"><h3 id="h-services">${esc(t.services)}</h3><ul class="services"></ul></section>
              <section class="block" aria-labelledby="h-jobs"><h3 id="h-jobs">${esc(t.jobs)}</h3><div class="jobs"></div></section>
            </div>
            <div class="grid">
              <section class="block" aria-labelledby="h-maint"><h3 id="h-maint">${esc(t.maintenance)}</h3><div class="buttons maint"></div></section>
              <section class="block" aria-labelledby="h-deploy"><h3 id="h-deploy">${esc(t.deploy)}</h3><div class="buttons deploy"></div></section>
            </div>
            <section class="run" aria-live="polite"></section>
            <section class="block" aria-labelledby="h-stop">
              <h3 id="h-stop">${esc(t.stop)}</h3>
              <button type="button" class="danger" data-do="stop">${esc(t.stop)}</button>
              <div class="report" role="status"></div>
            </section>
            <section class="block" aria-labelledby="h-history"><h3 id="h-history">${esc(t.history)}</h3><div class="history"></div></section>
            <p class="muted updated" aria-live="off"></p>
          </div>
          <dialog aria-labelledby="stop-q">
            <p id="stop-q">${esc(t.stopAsk)}</p>
            <form method="dialog" class="buttons">
              <button value="cancel" autofocus>${esc(t.cancel)}</button>
              <button value="stop" class="danger">${esc(t.stopConfirm)}</button>
            </form>
          </dialog>
        </div>`;
      this.root.addEventListener("click", (e) => this.onClick(e));
      this.$("form.key").addEventListener("submit", (e) => {
        e.preventDefault();
        this.key = e.target.key.value.trim();
        sessionStorage.setItem(KEY_STORE, this.key);
        this.$("form.key").hidden = true;
        this.$(".body").hidden = false;
        this.$('[data-do="forget"]').hidden = false;
        this.refresh();
      });
      this.$("dialog").addEventListener("close", () => {
        if (this.$("dialog").returnValue === "stop") this.emergencyStop();
      });
      if (!this.key) this.$("form.key input").focus();
    }

    onClick(e) {
      const button = e.target.closest("button[data-do]");
      if (!button) return;
      const what = button.dataset.do;
      if (what === "refresh") this.refresh();
      else if (what === "lang") {
        this.lang = this.lang === "fr" ? "en" : "fr";
        localStorage.setItem(LANG_STORE, this.lang);
        this.render();
        if (this.key) this.refresh();
      } else if (what === "forget") this.askKey();
      else if (what === "stop") this.$("dialog").showModal();
      else if (what === "action") this.runAction(button.dataset.kind, button.dataset.name);
    }

    askKey(message) {
      sessionStorage.removeItem(KEY_STORE);
      this.key = "";
      this.$(".body").hidden = true;
      this.$("form.key").hidden = false;
      this.$('[data-do="forget"]').hidden = true;
      this.$("form.key input").value = "";
      this.$("form.key input").focus();
      if (message) this.banner(message, true);
    }

    banner(message, bad) {
      const b = this.$(".banner");
      b.hidden = !message;
      b.textContent = message || "";
      b.classList.toggle("bad", !!bad);
    }

    // One API call; a missing or wrong key sends the person back to the key form.
    async api(path, options = {}) {
      let response;
      try {
        response = await fetch(this.base + path, {
          ...options,
          headers: { "X-API-Key": this.key, "Content-Type": "application/json" },
        });
      } catch (err) {
        throw Object.assign(new Error(this.t.offline), { offline: true });
      }
      let body = null;
      try { body = await response.json(); } catch (_) { /* not JSON */ }
      if (response.status === 401) {
        const noKey = body && /no API key is configured/.test(body.error || "");
        this.askKey(noKey ? this.t.noKeyConfigured : this.t.wrongKey);
        throw Object.assign(new Error("unauthorized"), { unauthorized: true });
      }
      return { status: response.status, body };
    }

    async refresh() {
      if (this.refreshing) return;
      this.refreshing = true;
      try {
        const [services, jobs, history] = await Promise.all([
          this.api("/deployment/services/status"),
          this.api("/deployment/jobs"),
          this.api("/deployment/history?limit=10"),
        ]);
        if (!this.actions) {
          const actions = await this.api("/deployment/actions");
          this.actions = actions.body.actions || [];
          this.showActions();
        }
        this.showServices(services.body.services || []);
        if (jobs.status === 503) {
          this.banner(this.t.redisDown, true);
          this.$(".jobs").innerHTML = `<p class="bad">${esc(this.t.redisDown)}</p>`;
        } else {
          this.banner("");
          this.showJobs(jobs.body);
        }
        this.showHistory(history.body.runs || []);
        this.$(".updated").textContent = this.t.updated(new Date().toLocaleTimeString(this.lang));
      } catch (err) {
        if (err.offline) this.banner(this.t.offline, true);
      } finally {
        this.refreshing = false;
      }
    }

    showServices(services) {
      const t = this.t;
      this.$(".services").innerHTML = services.map((s) => `
        <li data-service="${esc(s.name)}">
          <span><strong>${esc(s.name)}</strong><br><span class="muted">${esc(s.detail)}</span></span>
          <span class="state-${esc(s.status)}">${ICON[s.status] || ""} ${esc(t.status[s.status] || s.status)}
            ${s.uptime && s.uptime !== "N/A" ? `<br><span class="muted">${esc(t.uptime)} ${esc(s.uptime)}</span>` : ""}</span>
        </li>`).join("");
    }

    showJobs(jobs) {
      const t = this.t;
      // A refresh must not close what the person opened.
      const open = new Set([...this.root.querySelectorAll(".jobs details[open]")].map((d) => d.dataset.list || d.dataset.job));
      const c = jobs.counts || {};
      const list = (name, items, withError) => `
        <details data-list="${name}" ${open.has(name) ? "open" : ""}>
          <summary>${esc(t.lists[name])} (${items.length})</summary>
          ${items.length ? `<ol class="jobs">${items.map((j) => `<li>
            ${withError && j.error
              ? `<details data-job="${esc(j.id)}" ${open.has(j.id) ? "open" : ""}><summary>${esc(j.description || j.id)} <span class="muted">${esc(j.status)}</span></summary><pre>${esc(j.error)}</pre></details>`
              : `${esc(j.description || j.id)} <span class="muted">${esc(j.worker || j.status || "")}</span>`}
          </li>`).join("")}</ol>` : `<p class="muted">${esc(t.noJobs)}</p>`}
        </details>`;
      this.$(".jobs").innerHTML = `
        <dl class="counts">
          <div><dt>${esc(t.queued)}</dt><dd data-count="queued">${c.queued ?? 0}</dd></div>
          <div><dt>${esc(t.started)}</dt><dd data-count="started">${c.started ?? 0}</dd></div>
          <div><dt>${esc(t.finished)}</dt><dd data-count="finished">${c.finished ?? 0}</dd></div>
          <div><dt>${esc(t.failed)}</dt><dd data-count="failed">${c.failed ?? 0}</dd></div>
          <div><dt>${esc(t.total)}</dt><dd data-count="total">${jobs.total ?? 0}</dd></div>
        </dl>
        ${list("queued", jobs.queued || [], false)}
        ${list("started", jobs.started || [], false)}
        ${list("finished", jobs.finished || [], false)}
        ${list("failed", jobs.failed || [], true)}`;
    }

    showActions() {
      const t = this.t;
      const button = (a) => `
        <div class="action">
          <button type="button" data-do="action" data-kind="${esc(a.kind)}" data-name="${esc(a.name)}"
            aria-describedby="d-${esc(a.name)}">${esc(a.name.replace(/_/g, " "))}</button>
          <small id="d-${esc(a.name)}">${esc(a.description)}</small>
        </div>`;
      const services = [...new Set(this.actions.flatMap((a) => (a.parameters && a.parameters.service) || []))];
      const none = `<p class="muted">${esc(t.noActions)}</p>`;
      const maintenance = this.actions.filter((a) => a.kind === "maintenance");
      const deploy = this.actions.filter((a) => a.kind === "deploy");
      this.$(".maint").innerHTML = maintenance.length ? maintenance.map(button).join("") : none;
      this.$(".deploy").innerHTML = deploy.length ? (services.length ? `
        <label>${esc(t.service)}
          <select class="service"><option value="">${esc(t.allServices)}</option>
            ${services.map((s) => `<option>${esc(s)}</option>`).join("")}</select>
        </label>` : "") + deploy.map(button).join("") : none;
    }

    showHistory(runs) {
      const t = this.t;
      this.$(".history").innerHTML = runs.length ? `
        <table><thead><tr><th>${esc(t.when)}</th><th>${esc(t.what)}</th><th>${esc(t.outcome)}</th><th>${esc(t.who)}</th><th>${esc(t.took)}</th></tr></thead>
        <tbody>${runs.map((r) => `<tr>
          <td>${esc(new Date(r.started_at).toLocaleString(this.lang))}</td>
          <td>${esc(r.action)}${r.service ? ` (${esc(r.service)})` : ""}</td>
          <td><span class="${r.status === "success" ? "ok" : "bad"}">${esc(r.status)}</span><br><span class="muted">${esc(r.message)}</span></td>
          <td>${esc(r.client)}</td>
          <td>${(r.duration_ms / 1000).toFixed(1)} s</td></tr>`).join("")}</tbody></table>`
        : `<p class="muted">${esc(t.noHistory)}</p>`;
    }

    // Starts an action without waiting and follows its progress live.
    async runAction(kind, name) {
      const t = this.t;
      const panel = this.$(".run");
      const spec = this.actions.find((a) => a.name === name) || {};
      const select = this.$("select.service");
      const service = spec.parameters && spec.parameters.service && select && select.value ? select.value : undefined;
      const path = kind === "deploy" ? "/deployment/deploy" : "/deployment/maintenance";
      this.root.querySelectorAll(`button[data-name="${name}"]`).forEach((b) => { b.disabled = true; });
      try {
        const start = await this.api(path, { method: "POST", body: JSON.stringify({ action: name, service, wait: false }) });
        if (start.status === 409) {
          panel.innerHTML = `<p class="bad">${esc(t.alreadyRunning)}</p>`;
          return;
        }
        if (start.status !== 202) {
          panel.innerHTML = `<p class="bad">${esc(t.failedRun)}: ${esc(start.body && start.body.error)}</p>`;
          return;
        }
        const id = start.body.run_id;
        for (;;) {
          const run = (await this.api(`/deployment/runs/${encodeURIComponent(id)}`)).body;
          const log = (run.log || []).slice(-15).map((l) => `${l.level}: ${l.message}`).join("\n");
          const result = run.result;
          panel.innerHTML = `
            <h3>${esc(name.replace(/_/g, " "))}</h3>
            <progress max="100" value="${run.progress || 0}" aria-label="${esc(name)}">${run.progress || 0}%</progress>
            <p>${result
              ? `<span class="${result.status === "success" ? "ok" : "bad"}" data-result="${esc(result.status)}">${esc(result.status === "success" ? t.done : t.failedRun)}</span>: ${esc(result.message)}`
              : `${esc(t.running)} ${esc(run.step || "")}`}</p>
            ${log ? `<pre>${esc(log)}</pre>` : ""}`;
          if (result) break;
          await new Promise((r) => setTimeout(r, 400));
        }
        this.refresh();
      } catch (_) {
        /* the key form or the banner says what happened */
      } finally {
        this.root.querySelectorAll(`button[data-name="${name}"]`).forEach((b) => { b.disabled = false; });
      }
    }

    async emergencyStop() {
      const report = this.$(".report");
      const button = this.$('[data-do="stop"]');
      button.disabled = true;
      try {
        const r = await this.api("/stop", { method: "POST", body: "{}" });
        if (r.status === 200) {
          report.innerHTML = `<p class="${r.body.status === "success" ? "ok" : "bad"}">${esc(this.t.stopped(r.body))}</p>`;
        } else {
          report.innerHTML = `<p class="bad">${esc(r.status === 503 ? this.t.redisDown : (r.body && r.body.error))}</p>`;
        }
        this.refresh();
      } catch (_) {
        /* shown by api() */
      } finally {
        button.disabled = false;
      }
    }
  }

  if (!customElements.get("pitstop-widget")) customElements.define("pitstop-widget", PitstopWidget);
})();
