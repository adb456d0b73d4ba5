// keepup's page script: loaded by every page (deferred). Pages work
// without it; it only adds behaviour (live updates come here).
"use strict";

// Live updates of the dashboard (overview and check pages): elements with
// data-check="site/check" and data-field="state" | "since" | "message"
// follow /events (server-sent events: a "snapshot" of every check on each
// connection, then one "status" event per change) without a reload. The
// browser reconnects by itself after a drop; if the stream is closed for
// good (the server dropped a slow client), a new one is opened after a
// pause and its snapshot catches up.
(function () {
  if (!document.querySelector("[data-check]")) return;
  const classes = { up: "up", degraded: "degraded", down: "down", unknown: "unknown" };

  function ago(iso) {
    const s = Math.max(0, Math.floor((Date.now() - Date.parse(iso)) / 1000));
    if (s < 120) return s + "s ago";
    if (s < 7200) return Math.floor(s / 60) + "m ago";
    if (s < 172800) return Math.floor(s / 3600) + "h ago";
    return Math.floor(s / 86400) + "d ago";
  }

  function apply(live) {
    const selector = '[data-check="' + CSS.escape(live.check) + '"]';
    for (const el of document.querySelectorAll(selector)) {
      switch (el.dataset.field) {
        case "state":
          el.textContent = live.state.toUpperCase();
          el.className = "badge " + (classes[live.state] || "nodata");
          break;
        case "since":
          if (live.since) {
            el.setAttribute("datetime", live.since);
            el.textContent = ago(live.since);
          }
          break;
        case "message":
          el.textContent = live.message;
          break;
      }
    }
  }

  let retry = null;
  function connect() {
    const source = new EventSource("/events");
    source.addEventListener("snapshot", (e) => JSON.parse(e.data).forEach(apply));
    source.addEventListener("status", (e) => apply(JSON.parse(e.data)));
    source.addEventListener("open", () => { document.documentElement.dataset.live = "on"; });
    source.addEventListener("error", () => {
      document.documentElement.dataset.live = "off";
      if (source.readyState === EventSource.CLOSED && retry === null) {
        retry = setTimeout(() => { retry = null; connect(); }, 5000);
      }
    });
  }
  connect();

  // "Since" texts age while the page is open.
  setInterval(() => {
    for (const el of document.querySelectorAll('time[data-field="since"][datetime]')) {
      el.textContent = ago(el.getAttribute("datetime"));
    }
  }, 30000);
})();

// "/" focuses the overview's search box, as on many sites.
document.addEventListener("keydown", (e) => {
  const search = document.getElementById("search");
  const typing = e.target instanceof HTMLElement && e.target.closest("input, textarea, select");
  if (e.key === "/" && search && !typing && !e.ctrlKey && !e.metaKey && !e.altKey) {
    e.preventDefault();
    search.focus();
  }
});
