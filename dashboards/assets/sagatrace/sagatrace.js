// Sagatrace page behaviour. No inline script anywhere: the CSP forbids it.
// Loaded with `defer`: the document is parsed when this runs.
"use strict";
(function () {
  // --- runs list: filter form -----------------------------------------------------------------
  function initFilters(form) {
    const range = form.querySelector("select[name=range]");
    const custom = form.querySelector(".custom-range");
    form.addEventListener("change", function (e) {
      if (e.target === range) {
        custom.hidden = range.value !== "custom";
        if (range.value === "custom") { custom.querySelector("input").focus(); return; }
        custom.querySelectorAll("input").forEach(function (i) { i.value = ""; });
      }
      if (e.target.tagName === "SELECT") form.requestSubmit();
    });
    // Leave empty fields out of the URL, so a shared link shows only what matters.
    form.addEventListener("submit", function () {
      form.querySelectorAll("[name]").forEach(function (el) { if (!el.value) el.disabled = true; });
    });
    window.addEventListener("pageshow", function () {
      form.querySelectorAll("[name]").forEach(function (el) { el.disabled = false; });
    });
  }

  // --- runs list and session: pick two runs to compare -----------------------------------------
  function initCompare(box) {
    const picked = [];
    const link = box.querySelector(".compare-link");
    const count = box.querySelector(".compare-count");
    function render() {
      count.textContent = String(picked.length);
      document.querySelectorAll("input.pick-run").forEach(function (cb) { cb.checked = picked.indexOf(cb.value) >= 0; });
      if (picked.length === 2) {
        link.href = box.dataset.diffUrl + "?a=" + encodeURIComponent(picked[0]) + "&b=" + encodeURIComponent(picked[1]);
        link.removeAttribute("aria-disabled");
      } else {
        link.removeAttribute("href");
        link.setAttribute("aria-disabled", "true");
      }
    }
    document.addEventListener("change", function (e) {
      const cb = e.target.closest && e.target.closest("input.pick-run");
      if (!cb) return;
      const at = picked.indexOf(cb.value);
      if (cb.checked && at < 0) { picked.push(cb.value); if (picked.length > 2) picked.shift(); }
      if (!cb.checked && at >= 0) picked.splice(at, 1);
      render();
    });
    document.body.addEventListener("htmx:afterSwap", render);  // live refresh re-renders the rows
  }

  // --- runs list: live refresh (htmx polls the same row partial) --------------------------------
  function initLive(tbody) {
    function ids() { return new Set(Array.from(tbody.querySelectorAll("tr[data-trace]"), function (r) { return r.dataset.trace; })); }
    let known = ids();
    document.body.addEventListener("htmx:beforeRequest", function (e) {
      if (e.detail.elt === tbody && document.hidden) e.preventDefault();  // no polling in a background tab
    });
    document.body.addEventListener("htmx:afterSwap", function (e) {
      if (e.detail.target !== tbody) return;
      tbody.querySelectorAll("tr[data-trace]").forEach(function (r) { if (!known.has(r.dataset.trace)) r.classList.add("fresh"); });
      known = ids();
    });
  }

  // --- run page: step tree, waterfall, keyboard, deep links, step pane ---------------------------
  function initExplorer(section) {
    const base = section.dataset.paneBase;
    const pane = document.getElementById("step-pane");
    let rows = [], index = new Map(), current = null, inflight = null, timer = null, wanted = null;

    function collect() {  // long runs arrive in chunks: re-read the rows and re-apply the folds
      rows = Array.from(section.querySelectorAll("tr[data-span]"));
      index = new Map(rows.map(function (r, i) { return [r.dataset.span, i]; }));
      let hideBelow = Infinity;
      rows.forEach(function (r) {
        const hide = depth(r) > hideBelow;
        if (r.hidden !== hide) r.hidden = hide;  // untouched rows cost no style work
        if (hide) return;
        hideBelow = r.getAttribute("aria-expanded") === "false" ? depth(r) : Infinity;
      });
    }

    function depth(r) { return +r.dataset.depth; }

    function setFold(row, open) {
      if (!row.hasAttribute("aria-expanded")) return;
      row.setAttribute("aria-expanded", open ? "true" : "false");
      let skip = Infinity;
      for (let i = index.get(row.dataset.span) + 1; i < rows.length && depth(rows[i]) > depth(row); i++) {
        const r = rows[i];
        if (!open) { r.hidden = true; continue; }
        if (depth(r) > skip) continue;  // under a descendant that stays folded
        skip = Infinity;
        r.hidden = false;
        if (r.getAttribute("aria-expanded") === "false") skip = depth(r);
      }
    }

    function reveal(row) {  // unfold every folded ancestor of `row`
      let d = depth(row);
      for (let i = index.get(row.dataset.span) - 1; i >= 0 && d > 0; i--) {
        if (depth(rows[i]) < d) {
          d = depth(rows[i]);
          if (rows[i].getAttribute("aria-expanded") === "false") setFold(rows[i], true);
        }
      }
    }

    function load(span) {
      clearTimeout(timer);
      timer = setTimeout(function () {  // holding j should not fire a request per row
        if (inflight) inflight.abort();
        inflight = new AbortController();
        fetch(base + span + "/", { signal: inflight.signal, credentials: "same-origin" })
          .then(function (r) { return r.ok ? r.text() : Promise.reject(new Error(r.status)); })
          .then(function (html) {
            pane.innerHTML = html;  // server-rendered and escaped; scripts never run from innerHTML
            if (window.htmx) window.htmx.process(pane);
          })
          .catch(function (err) {
            if (err.name !== "AbortError") pane.textContent = "Could not load this step (" + err.message + ").";
          });
      }, 40);
    }

    function select(row, quiet) {  // quiet: the default first selection leaves the URL as it was
      if (!row || row === current) return;
      reveal(row);
      if (current) { current.classList.remove("selected"); current.setAttribute("aria-selected", "false"); }
      current = row;
      row.classList.add("selected");
      row.setAttribute("aria-selected", "true");
      row.scrollIntoView({ block: "nearest" });
      if (!quiet && location.hash.slice(1) !== row.dataset.span) history.replaceState(null, "", "#" + row.dataset.span);
      const shown = pane.querySelector(".pane");
      if (!shown || shown.dataset.span !== row.dataset.span) load(row.dataset.span);
      else { clearTimeout(timer); if (inflight) inflight.abort(); }  // back on the shown step: drop pending loads
    }

    function move(step) {
      let i = current ? index.get(current.dataset.span) : -1;
      do { i += step; } while (rows[i] && rows[i].hidden);
      if (rows[i]) select(rows[i]);
    }

    function fromHash() {  // the deep-linked row; remembered if its chunk has not arrived yet
      const span = location.hash.slice(1).toLowerCase();
      const i = index.get(span);
      wanted = span && i === undefined ? span : null;
      return i === undefined ? null : rows[i];
    }

    section.addEventListener("click", function (e) {
      const row = e.target.closest("tr[data-span]");
      if (!row) return;
      if (e.target.closest("button.fold")) {
        setFold(row, row.getAttribute("aria-expanded") === "false");
        return;
      }
      select(row);
    });
    section.querySelectorAll("[data-fold]").forEach(function (button) {
      button.addEventListener("click", function () {
        const open = button.dataset.fold === "none";
        rows.forEach(function (r) {
          if (r.hasAttribute("aria-expanded")) r.setAttribute("aria-expanded", open ? "true" : "false");
          r.hidden = !open && depth(r) > 0;
        });
        if (current && current.hidden) { current = null; move(1); }
      });
    });
    document.addEventListener("keydown", function (e) {
      if (e.altKey || e.ctrlKey || e.metaKey || (e.target.closest && e.target.closest("input, textarea, select, [contenteditable]"))) return;
      const k = e.key;
      if (k === "j" || k === "ArrowDown") move(1);
      else if (k === "k" || k === "ArrowUp") move(-1);
      else if ((k === "ArrowRight" || k === "l") && current) setFold(current, true);
      else if ((k === "ArrowLeft" || k === "h") && current) {
        if (current.getAttribute("aria-expanded") === "true") setFold(current, false);
        else { const parent = document.getElementById(current.dataset.parent); if (parent && index.has(parent.id)) select(parent); }
      } else return;
      e.preventDefault();
    });
    window.addEventListener("hashchange", function () { const row = fromHash(); if (row) select(row); });
    pane.addEventListener("click", function (e) {  // tabs inside the loaded pane
      const tab = e.target.closest("[data-tab]");
      if (!tab) return;
      const root = tab.closest(".pane");
      root.querySelectorAll("[data-tab]").forEach(function (t) { t.setAttribute("aria-selected", String(t === tab)); });
      root.querySelectorAll("[data-panel]").forEach(function (p) { p.hidden = p.dataset.panel !== tab.dataset.tab; });
    });
    new MutationObserver(function () {  // a chunk of rows arrived (htmx swapped the "more" row)
      collect();
      if (wanted && index.has(wanted)) { select(rows[index.get(wanted)]); wanted = null; }
      if (wanted && !section.querySelector("tr.more-rows")) { wanted = null; if (!current) select(rows[0], true); }
    }).observe(section.querySelector("tbody"), { childList: true });
    collect();
    const linked = fromHash();
    if (linked) select(linked);
    else if (!wanted) select(rows[0], true);
  }

  function loadCharts(section) {
    // plotly.js is 4.6 MB (a long parse): fetched once the whole step tree is in and the page idle.
    if (document.querySelector("tr.more-rows")) { setTimeout(function () { loadCharts(section); }, 250); return; }
    const script = document.createElement("script");
    script.src = section.dataset.plotly;
    script.addEventListener("load", drawCharts);
    (window.requestIdleCallback || setTimeout)(function () { document.head.appendChild(script); });
  }

  function drawCharts() {
    document.querySelectorAll("[data-figure]").forEach(function (div) {
      const fig = JSON.parse(div.dataset.figure);
      window.Plotly.newPlot(div, fig.data, fig.layout, { displayModeBar: false, responsive: true });
      div.on("plotly_click", function (ev) {  // a point is a step: select it
        const span = ev.points && ev.points[0] && ev.points[0].customdata;
        if (typeof span === "string" && /^[0-9a-f]{16}$/.test(span)) location.hash = span;
      });
    });
  }

  const filters = document.getElementById("run-filters");
  if (filters) initFilters(filters);
  const compare = document.querySelector("[data-compare]");
  if (compare) initCompare(compare);
  const live = document.querySelector("#run-rows[hx-get]");
  if (live) initLive(live);
  const explorer = document.querySelector("[data-explorer]");
  if (explorer) initExplorer(explorer);
  const charts = document.querySelector("[data-plotly]");
  if (charts) loadCharts(charts);
})();
