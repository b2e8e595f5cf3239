/* TailShift comparison page: pick two submissions of a split, show B - A per metric.
   CI of a difference (normal approximation, no paired bootstrap numbers in result files v1):
   SE = (hi - lo) / (2 * 1.96) for each score, diff CI = d +- 1.96 * sqrt(SE_A^2 + SE_B^2).
   All text from submissions is inserted with textContent (never innerHTML). */
(function () {
  "use strict";
  var Z = 1.959963984540054;  /* 97.5 % normal quantile: the CIs are 95 % intervals */
  var data = JSON.parse(document.getElementById("lb-data").textContent);

  function el(tag, text, cls) {
    var e = document.createElement(tag);
    if (text !== undefined && text !== null) e.textContent = text;
    if (cls) e.className = cls;
    return e;
  }
  function fmt(v) {
    if (v === null || v === undefined) return "\u2014";
    if (typeof v === "boolean") return v ? "yes" : "no";
    if (v === 0) return "0";
    var a = Math.abs(v);
    if (a >= 1e4 || a < 1e-3) return v.toExponential(2);
    return String(+v.toPrecision(3));
  }
  function num(s) { return s && typeof s.value === "number" ? s.value : null; }
  function se(s) {
    return (s && typeof s.ci_low === "number" && typeof s.ci_high === "number")
      ? (s.ci_high - s.ci_low) / (2 * Z) : null;
  }

  /* B - A with its approximate CI and a verdict ("A better", "B better", or ""). */
  function diff(sa, sb, spec, group) {
    var a = num(sa), b = num(sb);
    if (a === null || b === null) return null;
    var d = b - a, ea = se(sa), eb = se(sb), lo = null, hi = null, verdict = "";
    if (ea !== null && eb !== null) {
      var h = Z * Math.sqrt(ea * ea + eb * eb);
      lo = d - h; hi = d + h;
      if (lo > 0 || hi < 0) {
        var hib = spec ? spec.higher_is_better : null;
        if (hib === true || hib === false) {
          var bBetter = hib ? d > 0 : d < 0;
          verdict = bBetter ? "B better" : "A better";
        } else if (spec && typeof spec.target === "number" && group !== "gap") {
          verdict = Math.abs(b - spec.target) < Math.abs(a - spec.target) ? "B closer to target" : "A closer to target";
        } else {
          verdict = "differs";
        }
      }
    }
    return {d: d, lo: lo, hi: hi, verdict: verdict};
  }

  function render(section, split) {
    var selA = section.querySelector("select.pick-a"), selB = section.querySelector("select.pick-b");
    var table = section.querySelector("table.diff");
    var subA = split.submissions[+selA.value], subB = split.submissions[+selB.value];
    var thead = table.tHead, tbody = table.tBodies[0];
    thead.textContent = ""; tbody.textContent = "";
    var groups = data.groups.filter(function (g) {
      return (subA.scores[g.key] && Object.keys(subA.scores[g.key]).length) ||
             (subB.scores[g.key] && Object.keys(subB.scores[g.key]).length);
    });
    var r1 = el("tr"), r2 = el("tr");
    var th = el("th", "metric"); th.rowSpan = 2; r1.appendChild(th);
    groups.forEach(function (g) {
      var t = el("th", g.label, "grp"); t.colSpan = 3; r1.appendChild(t);
      r2.appendChild(el("th", "A", "num first")); r2.appendChild(el("th", "B", "num"));
      r2.appendChild(el("th", "B \u2212 A [95% CI]", "num"));
    });
    thead.appendChild(r1); thead.appendChild(r2);
    var names = {};
    groups.forEach(function (g) {
      [subA, subB].forEach(function (s) { Object.keys(s.scores[g.key] || {}).forEach(function (m) { names[m] = 1; }); });
    });
    var order = data.headline.filter(function (m) { return names[m]; })
      .concat(Object.keys(names).filter(function (m) { return data.headline.indexOf(m) < 0; }).sort());
    order.forEach(function (m) {
      var tr = el("tr"), spec = data.metrics[m] || null;
      var td = el("td"); td.appendChild(el("code", m)); tr.appendChild(td);
      groups.forEach(function (g) {
        var sa = (subA.scores[g.key] || {})[m], sb = (subB.scores[g.key] || {})[m];
        tr.appendChild(el("td", fmt(sa ? sa.value : null), "num first"));
        tr.appendChild(el("td", fmt(sb ? sb.value : null), "num"));
        var r = diff(sa, sb, spec, g.key), cell = el("td", null, "num diffcell");
        if (r === null) { cell.textContent = "\u2014"; cell.classList.add("na"); }
        else {
          cell.appendChild(el("span", (r.d > 0 ? "+" : "") + fmt(r.d), "v"));
          if (r.lo !== null) cell.appendChild(el("span", "[" + fmt(r.lo) + ", " + fmt(r.hi) + "]", "ci"));
          if (r.verdict) cell.appendChild(el("span", r.verdict, r.verdict.charAt(0) === "A" ? "verdict-a" : "verdict-b"));
        }
        tr.appendChild(cell);
      });
      tbody.appendChild(tr);
    });
  }

  function setup(section) {
    var split = data.splits[+section.getAttribute("data-split")];
    var selA = section.querySelector("select.pick-a"), selB = section.querySelector("select.pick-b");
    split.submissions.forEach(function (s, i) {
      selA.appendChild(el("option", s.rank_text + "  " + s.name));
      selB.appendChild(el("option", s.rank_text + "  " + s.name));
      selA.options[i].value = i; selB.options[i].value = i;
    });
    selA.value = "0";
    selB.value = split.submissions.length > 1 ? "1" : "0";
    selA.addEventListener("change", function () { render(section, split); });
    selB.addEventListener("change", function () { render(section, split); });
    render(section, split);
  }

  var sections = document.querySelectorAll("section.compare");
  sections.forEach(setup);

  window.TailShiftCompare = {
    selftest: function () {
      var problems = [], n = 0;
      sections.forEach(function (section) {
        var selB = section.querySelector("select.pick-b");
        var last = String(selB.options.length - 1);
        selB.value = last;
        selB.dispatchEvent(new Event("change"));
        var rows = section.querySelectorAll("table.diff tbody tr");
        if (!rows.length) problems.push("compare: no rows for split " + section.id);
        section.querySelectorAll("td").forEach(function (td) {
          if (/NaN|undefined/.test(td.textContent)) problems.push("compare: bad cell " + td.textContent);
        });
        n += rows.length;
      });
      return {problems: problems, log: "compare: " + sections.length + " splits, " + n + " rows"};
    }
  };
})();
