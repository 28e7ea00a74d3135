"use strict";
(function () {
  var data = JSON.parse(document.getElementById("dpop-data").textContent || "{}");
  var entries = []; // oldest first
  var open = {}; // id -> expanded
  var last = 0;

  // el builds an element; children are nodes or strings (set as text,
  // never as HTML: every value comes from requests).
  function el(tag, attrs) {
    var e = document.createElement(tag);
    for (var k in attrs || {}) {
      if (k === "class") e.className = attrs[k];
      else if (k.slice(0, 2) === "on") e.addEventListener(k.slice(2), attrs[k]);
      else e.setAttribute(k, attrs[k]);
    }
    for (var i = 2; i < arguments.length; i++) add(e, arguments[i]);
    return e;
  }
  function add(e, c) {
    if (c === null || c === undefined || c === false) return;
    if (Array.isArray(c)) { c.forEach(function (x) { add(e, x); }); return; }
    e.appendChild(typeof c === "object" ? c : document.createTextNode(String(c)));
  }
  function display(raw) {
    if (typeof raw === "string") return raw;
    return JSON.stringify(raw);
  }
  function relTime(unix) {
    var d = Math.round(Date.now() / 1000 - unix), a = Math.abs(d), s;
    if (a < 1) return "now";
    if (a < 60) s = a + " s"; else if (a < 3600) s = Math.floor(a / 60) + " min";
    else if (a < 172800) s = Math.floor(a / 3600) + " h"; else s = Math.floor(a / 86400) + " days";
    return d >= 0 ? s + " ago" : "in " + s;
  }
  var timeClaims = { iat: 1, nbf: 1, exp: 1, auth_time: 1 };
  function kvTable(fields, report) {
    var t = el("table", { class: "kv" });
    (fields || []).forEach(function (f) {
      var v = display(f.value), extra = null;
      if (timeClaims[f.name] && typeof f.value === "number") {
        extra = el("span", { class: "rel" }, "  " + new Date(f.value * 1000).toISOString().replace(".000", "") + " (" + relTime(f.value) + ")");
      }
      if (f.name === "jwk" && report && report.jkt) extra = el("span", { class: "rel" }, "  thumbprint " + report.jkt);
      if (f.name === "cnf" && report && report.cnf_jkt) extra = el("span", { class: "rel" }, "  bound to the key " + report.cnf_jkt);
      t.appendChild(el("tr", null, el("td", null, f.name), el("td", null, v, extra)));
    });
    return t;
  }
  function checksTable(checks) {
    var t = el("table", { class: "kv checks" });
    (checks || []).forEach(function (c) {
      var text = c.passed ? (c.got || c.note || "") : "expected " + (c.expected || "(none)") + "  got " + (c.got || "(none)");
      t.appendChild(el("tr", null,
        el("td", { class: c.passed ? "pass" : "fail" }, (c.passed ? "✓ " : "✗ ") + c.check),
        el("td", null, text, c.note && !c.passed ? el("span", { class: "rel" }, "  " + c.note) : null)));
    });
    return t;
  }
  function reportView(title, r) {
    if (!r) return null;
    return el("div", { class: "report" },
      el("h3", null, title, el("span", { class: "hint" }, "  " + r.summary)),
      r.header && r.header.length ? [el("div", { class: "hint" }, "header"), kvTable(r.header, r)] : null,
      r.claims && r.claims.length ? [el("div", { class: "hint" }, "claims"), kvTable(r.claims, r)] : null,
      r.jkt ? el("div", null, "key thumbprint (jkt): ", el("code", null, r.jkt)) : null,
      r.cnf_jkt ? el("div", null, "cnf.jkt: ", el("code", null, r.cnf_jkt)) : null);
  }
  function details(x) {
    var d = el("div", { class: "details" });
    add(d, el("div", null, el("code", null, x.method + " " + x.url)));
    if (x.failure && x.verdict !== "ok") {
      var f = x.failure;
      add(d, el("div", { class: x.verdict === "nonce" ? "nonce-info" : "failure" },
        el("div", null, x.status + " " + (x.error || ""), x.error_description ? ": " + x.error_description : ""),
        f.check ? el("div", null, "failed check: ", el("span", { class: "check" }, f.check),
          el("span", { class: "hint" }, "  (" + (f.source === "server" ? "the server's evidence" : f.source === "re-check" ? "re-checked by the inspector" : "from the response") + ")")) : null,
        f.check || f.expected || f.got ? el("table", { class: "kv" },
          el("tr", null, el("td", null, "expected"), el("td", null, f.expected || "(none)")),
          el("tr", null, el("td", null, "got"), el("td", null, f.got || "(none)"))) : null,
        f.description && f.description !== x.error_description ? el("div", { class: "hint" }, f.description) : null));
    }
    if (x.nonce_sent || x.nonce_given) {
      add(d, el("h3", null, "Nonces"));
      add(d, el("table", { class: "kv" },
        el("tr", null, el("td", null, "in the proof"), el("td", null, x.nonce_sent || "(none)")),
        el("tr", null, el("td", null, "DPoP-Nonce given"), el("td", null, x.nonce_given || "(none)",
          x.nonce_given && x.nonce_sent && x.nonce_given !== x.nonce_sent ? el("span", { class: "rel" }, "  (a new nonce)") : null))));
    }
    add(d, reportView("DPoP proof", x.proof));
    add(d, reportView(x.server === "as" && !x.scheme ? "Access token issued" : "Access token (" + (x.scheme || "") + ")", x.token));
    if (x.params && x.params.length) {
      add(d, el("h3", null, "Parameters"));
      add(d, kvTable(x.params.map(function (p) { return { name: p.name, value: p.value }; })));
    }
    return d;
  }
  function row(x) {
    var li = el("li", { class: "x v-row-" + x.verdict, "data-id": x.id });
    var s = el("div", { class: "summary", onclick: function () { open[x.id] = !open[x.id]; render(); } },
      el("span", { class: "time" }, x.time.slice(11, 23)),
      el("span", { class: "badge srv-" + x.server }, x.server.toUpperCase()),
      el("span", null, x.method),
      el("span", { class: "path", title: x.url }, x.path),
      el("span", { class: "client", title: x.client || "" }, x.client || ""),
      el("span", { class: "status" }, x.status),
      el("span", { class: "badge v-" + x.verdict }, x.verdict === "nonce" ? "nonce asked" : x.verdict));
    li.appendChild(s);
    if (open[x.id]) li.appendChild(details(x));
    return li;
  }
  function sequence() {
    var shown = entries.slice(-40), rowH = 34, top = 30, W = 400;
    var xs = { client: 40, as: 200, rs: 360 };
    var H = top + shown.length * rowH + 10;
    var ns = "http://www.w3.org/2000/svg";
    function s(tag, attrs, text) {
      var e = document.createElementNS(ns, tag);
      for (var k in attrs) e.setAttribute(k, attrs[k]);
      if (text !== undefined) e.textContent = text;
      return e;
    }
    var svg = s("svg", { viewBox: "0 0 " + W + " " + H, role: "img", "aria-label": "sequence of the exchanges" });
    svg.appendChild(s("defs", {})).appendChild(s("marker", { id: "arr", viewBox: "0 0 10 10", refX: 9, refY: 5, markerWidth: 6, markerHeight: 6, orient: "auto-start-reverse" }))
      .appendChild(s("path", { d: "M0,0 L10,5 L0,10 z", fill: "#555" }));
    [["client", "Client"], ["as", "AS"], ["rs", "RS"]].forEach(function (p) {
      svg.appendChild(s("text", { x: xs[p[0]], y: 14, "text-anchor": "middle", "font-weight": "700" }, p[1]));
      svg.appendChild(s("line", { x1: xs[p[0]], y1: 20, x2: xs[p[0]], y2: H, class: "life" }));
    });
    shown.forEach(function (x, i) {
      var from = xs[x.from] || xs.client;
      var y = top + i * rowH, to = xs[x.server] || xs.as, color = x.verdict === "ok" ? "#1a7f37" : x.verdict === "nonce" ? "#9a6700" : "#cf222e";
      var g = s("g", { class: open[x.id] ? "hl" : "", style: "cursor:pointer" });
      g.addEventListener("click", function () { open[x.id] = !open[x.id]; render(); });
      g.appendChild(s("rect", { x: 0, y: y - 4, width: W, height: rowH, fill: "transparent" }));
      g.appendChild(s("line", { x1: from, y1: y + 8, x2: to - 2, y2: y + 8, stroke: "#555", "marker-end": "url(#arr)" }));
      g.appendChild(s("text", { x: (from + to) / 2, y: y + 4, "text-anchor": "middle" }, x.method + " " + (x.path.length > 26 ? x.path.slice(0, 25) + "…" : x.path)));
      g.appendChild(s("line", { x1: to, y1: y + 22, x2: from + (from < to ? 2 : -2), y2: y + 22, stroke: color, "stroke-dasharray": "4 2", "marker-end": "url(#arr)" }));
      g.appendChild(s("text", { x: (from + to) / 2, y: y + 19, "text-anchor": "middle", fill: color }, x.status + (x.error ? " " + x.error : "")));
      svg.appendChild(g);
    });
    var box = document.getElementById("sequence");
    box.textContent = "";
    box.appendChild(svg);
  }
  function render() {
    var list = document.getElementById("exchanges");
    var only = document.getElementById("only-refused").checked;
    list.textContent = "";
    for (var i = entries.length - 1; i >= 0; i--) {
      if (only && entries[i].verdict === "ok") continue;
      list.appendChild(row(entries[i]));
    }
    document.getElementById("empty").style.display = entries.length ? "none" : "";
    sequence();
  }
  function servers() {
    var s = data.servers || {}, box = document.getElementById("servers");
    [["AS", s.issuer], ["RS", s.resource]].forEach(function (p) {
      if (p[1]) add(box, [p[0] + " ", el("code", null, p[1]), "   "]);
    });
  }
  function poll() {
    fetch("api/exchanges?after=" + last).then(function (r) { return r.json(); }).then(function (j) {
      (j.entries || []).forEach(function (x) { entries.push(x); last = Math.max(last, x.id); });
      expandFromHash();
      if (entries.length > 1000) entries = entries.slice(-1000);
      if ((j.entries || []).length) render();
      document.getElementById("status").textContent = "live · " + entries.length + " exchanges";
    }).catch(function () {
      document.getElementById("status").textContent = "not connected to dpop serve; retrying";
    }).then(function () { setTimeout(poll, 1000); });
  }
  function checkForm() {
    var form = document.getElementById("check-form");
    form.addEventListener("submit", function (ev) {
      ev.preventDefault();
      var out = document.getElementById("check-result");
      fetch("api/inspect", { method: "POST", body: new URLSearchParams(new FormData(form)) })
        .then(function (r) { return r.json(); })
        .then(function (j) {
          out.textContent = "";
          if (j.error) { add(out, el("div", { class: "failure" }, j.error)); return; }
          add(out, reportView(j.kind === "dpop_proof" ? "DPoP proof" : j.kind, j));
          if (j.checks) add(out, [el("h3", null, "Checks"), checksTable(j.checks)]);
          if (j.verdict) add(out, el("div", { class: j.verdict.valid ? "" : "failure" }, j.verdict.valid ? "verifier: accepted" :
            "verifier: rejected: " + j.verdict.error + ": " + j.verdict.error_description + (j.verdict.check ? " (check " + j.verdict.check + ")" : "")));
          (j.notes || []).forEach(function (n) { add(out, el("div", { class: "hint" }, n)); });
        });
    });
  }
  // "#refused" expands every refusal, "#x-ID" one exchange.
  function expandFromHash() {
    var h = location.hash.slice(1);
    entries.forEach(function (x) {
      if ((h === "refused" && x.verdict !== "ok") || h === "x-" + x.id || h === "all") open[x.id] = true;
    });
  }
  document.getElementById("only-refused").addEventListener("change", render);
  servers();
  if (data.mode === "static") {
    entries = data.entries || [];
    document.getElementById("status").textContent = entries.length + " exchanges recorded" + (data.generated ? " on " + data.generated : "");
    document.getElementById("check-section").style.display = "none";
    expandFromHash();
    render();
  } else {
    checkForm();
    render();
    poll();
  }
})();
