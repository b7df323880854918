// ferrocheck report: the run's timeline on a canvas (one lane per process, zoom, pan, hover)
// and the page's small conveniences (copy the command, jump from an anomaly's op to the
// timeline). Only what is visible is drawn, so a history of 100,000 ops stays responsive.
(function () {
  "use strict";
  var D = JSON.parse(document.getElementById("fc-data").textContent);
  var calls = D.calls, nLanes = D.lanes.length;
  var END = Math.max(D.end, 1);
  var STATUS = ["ok", "fail", "info", "never completed"];
  var COLOR = ["#3f8f4a", "#c9302c", "#d98c00", "#9a9a9a"];
  var FAMILY = { pause: "#8e5cc7", kill: "#c0392b", clock: "#2f80c1" };
  var HEAD = 20, AXIS = 18, LEFT = 84;

  // Per lane, the calls in start order; a process runs one call at a time, so they do not overlap.
  var lanes = [];
  for (var l = 0; l < nLanes; l++) lanes.push([]);
  var maxOp = 0;
  for (var i = 0; i < calls.length; i++) {
    lanes[calls[i][0]].push(i);
    maxOp = Math.max(maxOp, calls[i][6], calls[i][7] === null ? 0 : calls[i][7]);
  }
  var callOfOp = new Int32Array(maxOp + 1).fill(-1);
  for (i = 0; i < calls.length; i++) {
    callOfOp[calls[i][6]] = i;
    if (calls[i][7] !== null) callOfOp[calls[i][7]] = i;
  }
  var marked = new Uint8Array(calls.length);
  var markedCalls = [];
  D.marked.forEach(function (op) {
    var c = op <= maxOp ? callOfOp[op] : -1;
    if (c >= 0 && !marked[c]) { marked[c] = 1; markedCalls.push(c); }
  });

  var canvas = document.getElementById("tl-canvas");
  var wrap = document.getElementById("tl-wrap");
  var tip = document.getElementById("tl-tip");
  var rangeText = document.getElementById("tl-range");
  if (!canvas || !canvas.getContext) return;
  var ctx = canvas.getContext("2d");
  var v0 = 0, v1 = END, laneH = 18, cssW = 800, cssH = 200, focus = -1;

  function secs(ns) {
    var span = v1 - v0, d = span < 1e6 ? 6 : span < 1e8 ? 4 : span < 1e10 ? 3 : 1;
    return (ns / 1e9).toFixed(d) + " s";
  }
  function human(ns) {
    if (ns < 1e3) return ns + " ns";
    if (ns < 1e6) return (ns / 1e3).toFixed(1) + " µs";
    if (ns < 1e9) return (ns / 1e6).toFixed(2) + " ms";
    return (ns / 1e9).toFixed(3) + " s";
  }
  function xOf(t) { return LEFT + (t - v0) / (v1 - v0) * (cssW - LEFT); }
  function tOf(x) { return v0 + (x - LEFT) / (cssW - LEFT) * (v1 - v0); }
  function laneTop(l) { return HEAD + AXIS + l * laneH; }

  function resize() {
    cssW = Math.max(wrap.clientWidth, 300);
    laneH = Math.max(1, Math.min(18, 560 / Math.max(nLanes, 1)));
    cssH = HEAD + AXIS + nLanes * laneH + 4;
    var dpr = window.devicePixelRatio || 1;
    canvas.width = Math.round(cssW * dpr);
    canvas.height = Math.round(cssH * dpr);
    canvas.style.height = cssH + "px";
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    draw();
  }

  // First call in lane `ls` whose end is at or after time t (calls are sorted and disjoint).
  function firstFrom(ls, t) {
    var lo = 0, hi = ls.length;
    while (lo < hi) {
      var mid = (lo + hi) >> 1, c = calls[ls[mid]];
      if (c[3] + c[4] < t) lo = mid + 1; else hi = mid;
    }
    return lo;
  }

  function niceStep(span) {
    var raw = span / 8, mag = Math.pow(10, Math.floor(Math.log10(raw)));
    var steps = [1, 2, 5, 10];
    for (var k = 0; k < steps.length; k++) if (steps[k] * mag >= raw) return steps[k] * mag;
    return 10 * mag;
  }

  function draw() {
    ctx.clearRect(0, 0, cssW, cssH);
    ctx.fillStyle = "#fff";
    ctx.fillRect(0, 0, cssW, cssH);
    ctx.font = "11px system-ui, sans-serif";
    // Time axis.
    var step = niceStep(v1 - v0);
    ctx.strokeStyle = "#e6e9ec"; ctx.fillStyle = "#5b6168"; ctx.lineWidth = 1;
    for (var t = Math.ceil(v0 / step) * step; t <= v1; t += step) {
      var x = Math.round(xOf(t)) + 0.5;
      ctx.beginPath(); ctx.moveTo(x, HEAD + AXIS - 4); ctx.lineTo(x, cssH); ctx.stroke();
      ctx.fillText(secs(t), x + 2, HEAD + AXIS - 6);
    }
    D.events.forEach(function (e) {
      if (e[0] < v0 || e[0] > v1) return;
      var x = Math.round(xOf(e[0])) + 0.5;
      ctx.strokeStyle = "#6a1b9a"; ctx.setLineDash([3, 3]);
      ctx.beginPath(); ctx.moveTo(x, HEAD); ctx.lineTo(x, cssH); ctx.stroke();
      ctx.setLineDash([]);
    });
    // Lanes and calls. Calls narrower than a pixel and a half are counted per pixel column
    // and drawn as a column split by outcome, so a zoomed-out run shows its true mix of
    // ok, fail and info; wider calls are bars, merged when they touch.
    var rects = [[], [], [], []], marks = [], drawn = 0;
    var h = Math.max(1, laneH - (laneH > 4 ? 3 : 0));
    var W = Math.ceil(cssW) + 1, cols = new Uint32Array(W * 4);
    for (var l = 0; l < nLanes; l++) {
      var ls = lanes[l], y = laneTop(l), lastEnd = -1, lastSt = -1, lastRect = null, dense = false;
      for (var k = firstFrom(ls, v0); k < ls.length; k++) {
        var c = calls[ls[k]];
        if (c[3] > v1) break;
        var a = xOf(c[3]), b = xOf(c[3] + c[4]);
        drawn++;
        if (marked[ls[k]] || ls[k] === focus) marks.push([a, y, Math.max(b - a, 1), h, ls[k] === focus]);
        if (b - a < 1.5) {
          var px = Math.max(0, Math.min(W - 1, Math.floor(a)));
          cols[px * 4 + c[5]]++; dense = true;
          continue;
        }
        if (lastRect && c[5] === lastSt && a - lastEnd < 1) {
          lastRect[2] = b - lastRect[0]; lastEnd = b; continue;
        }
        lastRect = [a, y, b - a, h];
        rects[c[5]].push(lastRect); lastEnd = b; lastSt = c[5];
      }
      if (!dense) continue;
      for (var p = 0; p < W; p++) {
        var n = cols[p * 4] + cols[p * 4 + 1] + cols[p * 4 + 2] + cols[p * 4 + 3];
        if (!n) continue;
        var yy = y;
        for (var st = 0; st < 4; st++) {
          var cnt = cols[p * 4 + st];
          if (!cnt) continue;
          var hh = h * cnt / n;
          rects[st].push([p, yy, 1, hh]); yy += hh;
          cols[p * 4 + st] = 0;
        }
      }
    }
    for (var s = 0; s < 4; s++) {
      ctx.fillStyle = COLOR[s];
      ctx.beginPath();
      rects[s].forEach(function (r) { ctx.rect(r[0], r[1], r[2], r[3]); });
      ctx.fill();
    }
    // Fault windows, tinting the bars under them.
    var shown = 0;
    D.faults.forEach(function (w) {
      if (w[3] < v0 || w[2] > v1) return;
      var a = Math.max(xOf(w[2]), LEFT), b = Math.min(xOf(w[3]), cssW);
      var col = FAMILY[w[0]] || "#e6a23c";
      ctx.globalAlpha = 0.18; ctx.fillStyle = col;
      ctx.fillRect(a, 0, Math.max(b - a, 2), cssH);
      ctx.globalAlpha = 1; ctx.fillStyle = col;
      ctx.fillRect(a, 0, Math.max(b - a, 2), 3);
      ctx.fillStyle = "#4a3300";
      ctx.save(); ctx.beginPath(); ctx.rect(a, 0, Math.max(b - a, 2), HEAD); ctx.clip();
      ctx.fillText(w[1] + (w[4] ? "" : " (never healed)"), a + 3, 14);
      ctx.restore();
      shown++;
    });
    marks.forEach(function (m) {
      ctx.strokeStyle = m[4] ? "#000" : "#6a1b9a"; ctx.lineWidth = m[4] ? 3 : 2;
      ctx.strokeRect(m[0] - 1.5, m[1] - 1.5, m[2] + 3, m[3] + 3);
    });
    ctx.lineWidth = 1;
    // Lane labels over a white margin.
    ctx.fillStyle = "#fff"; ctx.fillRect(0, HEAD + AXIS, LEFT - 2, cssH);
    ctx.fillStyle = "#5b6168";
    if (laneH >= 9) {
      for (l = 0; l < nLanes; l++) ctx.fillText(D.lanes[l], 4, laneTop(l) + laneH - 5);
    } else {
      ctx.fillText(nLanes + " lanes", 4, HEAD + AXIS + 12);
    }
    rangeText.textContent = secs(v0) + " – " + secs(v1) + " · " + drawn + " calls in view";
    canvas.setAttribute("data-rendered", "yes");
    canvas.setAttribute("data-bars", String(drawn));
    canvas.setAttribute("data-faults", String(shown));
  }

  function setView(a, b) {
    var span = Math.max(b - a, 1000);
    if (span > END * 1.2) span = END * 1.2;
    a = Math.max(Math.min(a, END - span * 0.1), -span * 0.1);
    v0 = a; v1 = a + span;
    draw();
  }
  function zoom(factor, atX) {
    var t = tOf(atX === undefined ? (LEFT + cssW) / 2 : atX);
    setView(t - (t - v0) * factor, t + (v1 - t) * factor);
  }
  function showCalls(list) {
    if (!list.length) return;
    var a = Infinity, b = -Infinity;
    list.forEach(function (c) { a = Math.min(a, calls[c][3]); b = Math.max(b, calls[c][3] + calls[c][4]); });
    var pad = Math.max((b - a) * 0.3, 1e5);
    setView(a - pad, b + pad);
  }

  canvas.addEventListener("wheel", function (e) {
    e.preventDefault();
    var r = canvas.getBoundingClientRect();
    zoom(e.deltaY > 0 ? 1.25 : 0.8, e.clientX - r.left);
  }, { passive: false });
  var drag = null;
  canvas.addEventListener("mousedown", function (e) { drag = { x: e.clientX, a: v0, b: v1 }; canvas.style.cursor = "grabbing"; });
  window.addEventListener("mouseup", function () { drag = null; canvas.style.cursor = "grab"; });
  window.addEventListener("mousemove", function (e) {
    if (!drag) return;
    var dt = (e.clientX - drag.x) / (cssW - LEFT) * (drag.b - drag.a);
    setView(drag.a - dt, drag.b - dt);
  });
  canvas.addEventListener("dblclick", function () { setView(0, END); });
  document.getElementById("tl-reset").onclick = function () { setView(0, END); };
  document.getElementById("tl-in").onclick = function () { zoom(0.5); };
  document.getElementById("tl-out").onclick = function () { zoom(2); };
  var anomalyButton = document.getElementById("tl-anomaly");
  if (!markedCalls.length) anomalyButton.disabled = true;
  anomalyButton.onclick = function () { showCalls(markedCalls); };

  function callAt(x, y) {
    var l = Math.floor((y - HEAD - AXIS) / laneH);
    if (l < 0 || l >= nLanes) return -1;
    var ls = lanes[l], t = tOf(x), slack = 3 / (cssW - LEFT) * (v1 - v0);
    var k = firstFrom(ls, t - slack);
    if (k < ls.length && calls[ls[k]][3] <= t + slack) return ls[k];
    return -1;
  }
  // What the tooltip says about call c (or -1) and the faults in force at time t.
  function describe(c, t) {
    var lines = [];
    if (c >= 0) {
      var k = calls[c];
      lines.push("process " + k[10] + ": " + D.fs[k[1]] + (k[2] >= 0 ? " " + D.keys[k[2]] : "") + (k[8] ? " " + k[8] : ""));
      lines.push(STATUS[k[5]] + (k[9] ? " → " + k[9] : ""));
      lines.push("ops #" + k[6] + (k[7] !== null ? " … #" + k[7] : "") + "  at " + secs(k[3]) + ", took " + human(k[4]));
      if (marked[c]) lines.push("named by an anomaly");
    }
    D.faults.forEach(function (w) { if (t >= w[2] && t <= w[3]) lines.push("fault: " + w[1] + " (" + secs(w[2]) + " – " + (w[4] ? secs(w[3]) : "end") + ")"); });
    return lines;
  }
  function showTip(lines, x, y) {
    if (!lines.length || x < LEFT) { tip.hidden = true; return; }
    tip.textContent = lines.join("\n");
    tip.hidden = false;
    var left = Math.min(x + 14, cssW - tip.offsetWidth - 4);
    tip.style.left = Math.max(left, 0) + "px";
    tip.style.top = (y + 16) + "px";
  }
  canvas.addEventListener("mousemove", function (e) {
    if (drag) { tip.hidden = true; return; }
    var r = canvas.getBoundingClientRect(), x = e.clientX - r.left, y = e.clientY - r.top;
    showTip(describe(callAt(x, y), tOf(x)), x, y);
  });
  canvas.addEventListener("mouseleave", function () { tip.hidden = true; });

  // An op named on the page (anomaly table or picture): show it on the timeline.
  Array.prototype.forEach.call(document.querySelectorAll("[data-op]"), function (el) {
    el.addEventListener("click", function () {
      var op = Number(el.getAttribute("data-op"));
      var c = op <= maxOp ? callOfOp[op] : -1;
      if (c >= 0) { focus = c; showCalls([c]); }
      else {
        var ev = D.faults.filter(function (w) { return w[5] === op; })[0];
        if (ev) setView(ev[2] - (ev[3] - ev[2]) * 0.3, ev[3] + (ev[3] - ev[2]) * 0.3);
      }
      document.getElementById("timeline-section").scrollIntoView({ behavior: "smooth" });
    });
  });

  var copy = document.getElementById("copy-command");
  if (copy) copy.onclick = function () {
    var text = document.getElementById("command").textContent;
    var done = function () { copy.textContent = "Copied"; setTimeout(function () { copy.textContent = "Copy"; }, 1500); };
    if (navigator.clipboard && window.isSecureContext) navigator.clipboard.writeText(text).then(done, select);
    else select();
    function select() {
      var range = document.createRange();
      range.selectNodeContents(document.getElementById("command"));
      var sel = window.getSelection(); sel.removeAllRanges(); sel.addRange(range);
      try { document.execCommand("copy"); done(); } catch (err) { copy.textContent = "Press Ctrl+C"; }
    }
  };

  window.addEventListener("resize", resize);
  window.addEventListener("beforeprint", resize);
  resize();
  // A link may open the timeline on a stretch of time: #view=FROM,TO in seconds.
  var m = /view=([0-9.]+),([0-9.]+)/.exec(location.hash);
  if (m && Number(m[2]) > Number(m[1])) setView(Number(m[1]) * 1e9, Number(m[2]) * 1e9);
  // #op=N opens the timeline on op N's call, with its details shown.
  var o = /op=([0-9]+)/.exec(location.hash), oc = o && Number(o[1]) <= maxOp ? callOfOp[Number(o[1])] : -1;
  if (oc >= 0) {
    focus = oc; showCalls([oc]);
    var k = calls[oc];
    showTip(describe(oc, k[3]), xOf(k[3]), laneTop(k[0]) + laneH);
  }
  // How long the page took to become usable, for anyone checking the report's speed.
  if (window.performance) canvas.setAttribute("data-ready-ms", String(Math.round(performance.now())));
})();
