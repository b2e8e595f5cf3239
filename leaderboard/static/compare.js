/* TailShift comparison page: pick two submissions of a split, show B - A per metric.
   CI of a difference:
   * "paired bootstrap" where both submissions carry paired replicates of the metric for that
     role (same pairing key: unit, seed, n, n_scenes, split hash, dataset checksum; the scorer's
     hashed Poisson weights give both the same resampled scenes in replicate b): the percentile
     interval of the replicate differences B_b - A_b (replicates where either is null dropped),
     computed as numpy's default 'linear' percentile (metrics/paired.py);
   * "independent (no paired replicates)" otherwise (and for the gap): normal approximation from
     the two CIs, SE = (hi - lo) / (2 * 1.96) for each, diff CI = d +- 1.96 * sqrt(SE_A^2 + SE_B^2).
   All text from submissions is inserted with textContent (never innerHTML). */
(function () {
  "use strict";
  var Z = 1.959963984540054;  /* 97.5 % normal quantile: the CIs are 95 % intervals */
  var LEVEL = 0.95;
  var ALPHA = (1 - LEVEL) / 2;
  /* the same floating-point steps as np.percentile(d, [100 * a, 100 * (1 - a)]) */
  var Q_LO = (100 * ALPHA) / 100, Q_HI = (100 * (1 - ALPHA)) / 100;
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

  /* numpy's default ('linear') percentile of an ascending array, q in [0, 1]: index h = (n-1) q,
     x[floor h] + (h - floor h) (x[floor h + 1] - x[floor h]), with numpy's _lerp rounding. */
  function quantileSorted(x, q) {
    var n = x.length;
    if (!n) return null;
    var h = (n - 1) * q;
    var i = Math.floor(h);
    if (h >= n - 1) return x[n - 1];
    if (h < 0) return x[0];
    var t = h - i, a = x[i], b = x[i + 1], d = b - a;
    return t >= 0.5 ? b - d * (1 - t) : a + d * t;
  }
  function percentile(values, q) {
    var x = values.filter(function (v) { return typeof v === "number" && isFinite(v); });
    x.sort(function (p, r) { return p - r; });
    return quantileSorted(x, q);
  }

  /* Replicates of metric m for role g of a submission: {key, v} or null. */
  function reps(sub, g, m) {
    var r = sub.replicates && sub.replicates[g];
    var e = r && r.m[m];
    return e ? {key: r.keys[e.k], v: e.v} : null;
  }
  /* Percentile CI of f(B_b) - f(A_b) over the replicates defined in both. */
  function pairedCI(ra, rb, f) {
    var d = [];
    for (var k = 0; k < ra.v.length && k < rb.v.length; k++) {
      var a = ra.v[k], b = rb.v[k];
      if (typeof a === "number" && typeof b === "number") d.push(f(b) - f(a));
    }
    if (!d.length) return null;
    d.sort(function (p, r) { return p - r; });
    return {lo: quantileSorted(d, Q_LO), hi: quantileSorted(d, Q_HI), n: d.length};
  }

  /* B - A with its CI, the rule used, and a verdict ("A better", "B better", or ""). */
  function diff(sa, sb, spec, group, ra, rb) {
    var a = num(sa), b = num(sb);
    if (a === null || b === null) return null;
    var d = b - a, lo = null, hi = null, verdict = "", rule = "independent (no paired replicates)";
    var hib = spec ? spec.higher_is_better : null;
    var target = (spec && hib !== true && hib !== false && typeof spec.target === "number" &&
                  group !== "gap") ? spec.target : null;
    var sig = false, closer = null;
    var paired = ra && rb && ra.key === rb.key ? pairedCI(ra, rb, function (v) { return v; }) : null;
    if (paired) {
      rule = "paired bootstrap";
      lo = paired.lo; hi = paired.hi;
      sig = lo > 0 || hi < 0;
      if (target !== null) {  /* the verdict reads the distance to the target, |v - t| */
        var bad = pairedCI(ra, rb, function (v) { return Math.abs(v - target); });
        sig = bad !== null && (bad.lo > 0 || bad.hi < 0);
        closer = sig ? (bad.hi < 0 ? "B" : "A") : null;
      }
    } else {
      var ea = se(sa), eb = se(sb);
      if (ea !== null && eb !== null) {
        var h = Z * Math.sqrt(ea * ea + eb * eb);
        lo = d - h; hi = d + h;
        sig = lo > 0 || hi < 0;
        if (target !== null && sig) closer = Math.abs(b - target) < Math.abs(a - target) ? "B" : "A";
      }
    }
    if (sig) {
      if (hib === true || hib === false) {
        var bBetter = hib ? d > 0 : d < 0;
        if (paired) bBetter = hib ? lo > 0 : hi < 0;
        verdict = bBetter ? "B better" : "A better";
      } else if (target !== null) {
        verdict = closer + " closer to target";
      } else {
        verdict = "differs";
      }
    }
    return {d: d, lo: lo, hi: hi, verdict: verdict, rule: lo === null ? "" : rule};
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
        var r = diff(sa, sb, spec, g.key, reps(subA, g.key, m), reps(subB, g.key, m));
        var cell = el("td", null, "num diffcell");
        if (r === null) { cell.textContent = "\u2014"; cell.classList.add("na"); }
        else {
          cell.appendChild(el("span", (r.d > 0 ? "+" : "") + fmt(r.d), "v"));
          if (r.lo !== null) {  /* full precision in data-lo / data-hi, for checks */
            var ci = el("span", "[" + fmt(r.lo) + ", " + fmt(r.hi) + "]", "ci");
            ci.setAttribute("data-lo", String(r.lo)); ci.setAttribute("data-hi", String(r.hi));
            cell.appendChild(ci);
          }
          if (r.rule) cell.appendChild(el("span", r.rule, r.rule.charAt(0) === "p" ? "rule paired" : "rule indep"));
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
    percentile: percentile,
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
