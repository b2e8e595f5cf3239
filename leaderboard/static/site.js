/* TailShift leaderboard: sortable and filterable tables, column-group toggles, and a self-test.
   Vanilla JS, no network. The self-test runs when the page is opened as  page.html#selftest :
   it clicks a header and checks the order, exercises the filter, checks that every image loaded,
   records errors (window errors, resource errors, console.error, alert, CSP violations) and writes
   its verdict to <body data-selftest="ok|fail"> and <pre id="selftest-log"> for headless tests. */
(function () {
  "use strict";
  var SELFTEST = location.hash === "#selftest";
  var problems = [];
  if (SELFTEST) {
    window.addEventListener("error", function (e) {
      var t = e.target;
      if (t && t !== window && t.tagName) {
        problems.push("resource failed: " + t.tagName + " " + (t.src || t.href || ""));
      } else {
        problems.push("error: " + (e.message || e));
      }
    }, true);
    window.addEventListener("unhandledrejection", function (e) { problems.push("rejection: " + e.reason); });
    document.addEventListener("securitypolicyviolation", function (e) {
      problems.push("CSP violation: " + e.violatedDirective + " " + e.blockedURI);
    });
    var origError = console.error;
    console.error = function () {
      problems.push("console.error: " + Array.prototype.join.call(arguments, " "));
      return origError.apply(console, arguments);
    };
    window.alert = function (m) { problems.push("alert called: " + m); };
  }

  function value(td, type) {
    if (!td) return null;
    var v = td.getAttribute("data-v");
    if (v === null) v = td.textContent.trim();
    if (type === "num") {
      if (v === "") return null;
      var x = parseFloat(v);
      return isNaN(x) ? null : x;
    }
    return v.toLowerCase();
  }

  /* Map every header cell to its column index, honouring rowspan / colspan. */
  function indexHeader(table) {
    var grid = [];
    Array.prototype.forEach.call(table.tHead.rows, function (tr, r) {
      grid[r] = grid[r] || [];
      var c = 0;
      Array.prototype.forEach.call(tr.cells, function (th) {
        while (grid[r][c]) c++;
        th.setAttribute("data-col", c);
        for (var i = 0; i < th.rowSpan; i++) {
          grid[r + i] = grid[r + i] || [];
          for (var j = 0; j < th.colSpan; j++) grid[r + i][c + j] = th;
        }
        c += th.colSpan;
      });
    });
  }

  function sortBy(table, th) {
    var col = +th.getAttribute("data-col");
    var type = th.getAttribute("data-type") || "text";
    var asc = th.getAttribute("aria-sort") !== "ascending";
    var body = table.tBodies[0];
    var rows = Array.prototype.slice.call(body.rows);
    rows.forEach(function (r, i) { if (r._i === undefined) r._i = i; });
    rows.sort(function (a, b) {
      var x = value(a.cells[col], type), y = value(b.cells[col], type);
      if (x === null && y === null) return a._i - b._i;
      if (x === null) return 1;          /* missing values always last */
      if (y === null) return -1;
      var d = type === "num" ? x - y : (x < y ? -1 : x > y ? 1 : 0);
      if (d === 0) return a._i - b._i;
      return asc ? d : -d;
    });
    rows.forEach(function (r) { body.appendChild(r); });
    table.querySelectorAll("th[aria-sort]").forEach(function (h) { h.removeAttribute("aria-sort"); });
    th.setAttribute("aria-sort", asc ? "ascending" : "descending");
  }

  function setupTable(table) {
    if (!table.tHead) return;
    indexHeader(table);
    table.querySelectorAll("th.sort").forEach(function (th) {
      th.tabIndex = 0;
      th.addEventListener("click", function () { sortBy(table, th); });
      th.addEventListener("keydown", function (e) { if (e.key === "Enter") sortBy(table, th); });
    });
  }

  function setupControls(ctl) {
    var table = document.getElementById(ctl.getAttribute("data-table"));
    if (!table) return;
    var input = ctl.querySelector("input.filter"), select = ctl.querySelector("select.source-filter");
    var count = ctl.querySelector(".count");
    function apply() {
      var q = (input ? input.value : "").trim().toLowerCase(), s = select ? select.value : "";
      var rows = table.tBodies[0].rows, shown = 0;
      for (var i = 0; i < rows.length; i++) {
        var r = rows[i];
        var ok = (!q || (r.getAttribute("data-search") || "").indexOf(q) >= 0) &&
                 (!s || r.getAttribute("data-sources") === s);
        r.classList.toggle("filtered-out", !ok);
        if (ok) shown++;
      }
      if (count) count.textContent = shown + " of " + rows.length + " shown";
    }
    if (input) input.addEventListener("input", apply);
    if (select) select.addEventListener("change", apply);
    ctl.querySelectorAll("input.role-toggle").forEach(function (cb) {
      cb.addEventListener("change", function () { table.classList.toggle("hide-" + cb.value, !cb.checked); });
    });
    apply();
  }

  function selftest() {
    var log = [];
    function check(cond, msg) { if (!cond) problems.push(msg); }
    document.querySelectorAll("table.sortable").forEach(function (table) {
      var body = table.tBodies[0];
      if (!body || body.rows.length < 2) return;
      var ths = table.querySelectorAll("th.sort[data-type=num]");
      var th = null;
      for (var i = 0; i < ths.length && !th; i++) {
        var c = +ths[i].getAttribute("data-col"), n = 0;
        for (var k = 0; k < body.rows.length; k++) if (value(body.rows[k].cells[c], "num") !== null) n++;
        if (n >= 2 && ths[i].textContent.indexOf("Rank") < 0) th = ths[i];
      }
      if (!th) return;
      var col = +th.getAttribute("data-col");
      function vals() {
        return Array.prototype.map.call(body.rows, function (r) { return value(r.cells[col], "num"); })
          .filter(function (v) { return v !== null; });
      }
      th.click();
      var a = vals();
      for (var j = 1; j < a.length; j++) check(a[j - 1] <= a[j], table.id + ": not ascending after click");
      th.click();
      var d = vals();
      for (j = 1; j < d.length; j++) check(d[j - 1] >= d[j], table.id + ": not descending after 2nd click");
      log.push(table.id + " sorted by column " + col + ": " + a.join(","));
    });
    document.querySelectorAll(".controls[data-table]").forEach(function (ctl) {
      var table = document.getElementById(ctl.getAttribute("data-table"));
      var input = ctl.querySelector("input.filter");
      if (!table || !input || table.tBodies[0].rows.length < 2) return;
      var first = table.tBodies[0].rows[0].getAttribute("data-search").split(" ")[0];
      input.value = first;
      input.dispatchEvent(new Event("input"));
      var shown = table.querySelectorAll("tbody tr:not(.filtered-out)").length;
      check(shown >= 1, table.id + ": filter hid every row");
      input.value = "";
      input.dispatchEvent(new Event("input"));
      check(table.querySelectorAll("tbody tr.filtered-out").length === 0, table.id + ": filter not cleared");
      log.push(table.id + " filter '" + first + "' -> " + shown + " rows");
    });
    document.querySelectorAll(".controls[data-table]").forEach(function (ctl) {
      var table = document.getElementById(ctl.getAttribute("data-table"));
      var cb = ctl.querySelector("input.role-toggle");
      if (!table || !cb) return;
      var cell = table.querySelector("tbody td.g-" + cb.value);
      if (!cell) return;
      cb.click();
      check(getComputedStyle(cell).display === "none", table.id + ": toggle did not hide " + cb.value);
      cb.click();
      check(getComputedStyle(cell).display !== "none", table.id + ": toggle did not show " + cb.value);
      log.push(table.id + " toggled " + cb.value);
    });
    var imgs = document.images;
    for (var i = 0; i < imgs.length; i++) {
      check(imgs[i].complete && imgs[i].naturalWidth > 0, "image not loaded: " + imgs[i].getAttribute("src"));
    }
    log.push(imgs.length + " images checked");
    if (window.TailShiftCompare) {
      var res = window.TailShiftCompare.selftest();
      res.problems.forEach(function (p) { problems.push(p); });
      log.push(res.log);
    }
    var verdict = problems.length ? "fail" : "ok";
    document.body.setAttribute("data-selftest", verdict);
    var pre = document.createElement("pre");
    pre.id = "selftest-log";
    pre.textContent = JSON.stringify({verdict: verdict, problems: problems, log: log});
    document.body.appendChild(pre);
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("table.sortable").forEach(setupTable);
    document.querySelectorAll(".controls[data-table]").forEach(setupControls);
  });
  if (SELFTEST) window.addEventListener("load", function () { setTimeout(selftest, 0); });
})();
